//! A three-node cluster of separate processes (the `walstore-raft` example
//! binary) on 127.0.0.1, each with its log in its own walstore directory:
//!
//! 1. elect a leader, write 10,000 keys through it, read them back from
//!    every node;
//! 2. stop a follower, write 2,000 more, restart it from its directory and
//!    watch it catch up;
//! 3. SIGKILL the leader while 32 writers are busy, let a new leader take
//!    over, restart the old one, and check that every node holds every
//!    acknowledged write, nothing that was never sent, and the same map.
//!
//! Every wait is bounded; the whole test takes well under a minute here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use walstore_openraft::client::Client;
use walstore_openraft::load::{wait_applied, wait_for_agreement, write_all, write_until_failure};
use walstore_openraft::types::Node;

const WAIT: Duration = Duration::from_secs(30);

/// A node process. Dropping it kills the process, so a failing test leaves
/// none behind (and `--exit-on-stdin-eof` covers a test that is killed).
struct NodeProc {
    id: u64,
    dir: PathBuf,
    addr: String,
    child: Child,
}

impl NodeProc {
    /// Starts a node; `addr` may end in `:0` for a port of the system's
    /// choosing. Returns once the node listens.
    fn start(id: u64, dir: &Path, addr: &str) -> NodeProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_walstore-raft"))
            .args([
                "node",
                "--id",
                &id.to_string(),
                "--addr",
                addr,
                "--exit-on-stdin-eof",
                "--dir",
            ])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn walstore-raft");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("node {id} did not start: {line:?}"))
            .to_owned();
        NodeProc {
            id,
            dir: dir.to_owned(),
            addr,
            child,
        }
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts the node again from its directory, on the same address (the
    /// others know it by that address).
    fn restart(&mut self) {
        *self = NodeProc::start(self.id, &self.dir, &self.addr);
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn items(prefix: &str, range: std::ops::Range<u32>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("{prefix}{i:05}"), format!("value-{prefix}-{i}")))
        .collect()
}

async fn status_of(addr: &str) -> walstore_openraft::network::Status {
    Client::new(addr.to_owned()).status().await.unwrap()
}

/// Waits until every node agrees on the leader and has applied what the
/// leader has, then returns each node's map.
async fn maps_once_caught_up(addrs: &[String]) -> Vec<BTreeMap<String, String>> {
    let leader = wait_for_agreement(addrs, WAIT)
        .await
        .expect("nodes agree on a leader");
    let target = status_of(&leader).await.last_applied.unwrap();
    let mut maps = Vec::new();
    for a in addrs {
        wait_applied(a, target, WAIT).await.unwrap();
        maps.push(Client::new(a.clone()).dump().await.unwrap());
    }
    maps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_elect_replicate_catch_up_and_survive_a_leader_kill() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes: Vec<NodeProc> = (1..=3)
        .map(|id| NodeProc::start(id, &tmp.path().join(format!("node{id}")), "127.0.0.1:0"))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let members: BTreeMap<u64, Node> = nodes
        .iter()
        .map(|n| (n.id, Node::new(n.addr.clone())))
        .collect();

    // --- 1. Elect, write 10,000 keys, read them back from every node.
    Client::new(addrs[0].clone()).init(members).await.unwrap();
    let leader = wait_for_agreement(&addrs, WAIT).await.expect("a leader");
    let st = status_of(&leader).await;
    assert_eq!(st.voters, vec![1, 2, 3]);
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let first = items("k", 0..10_000);
    expected.extend(first.iter().cloned());
    let took = write_all(&addrs, Arc::new(first), 64, WAIT).await.unwrap();
    println!("10,000 writes acknowledged in {took:?}");
    for (a, map) in addrs.iter().zip(maps_once_caught_up(&addrs).await) {
        assert_eq!(map.len(), 10_000, "{a}");
        assert!(
            map == expected,
            "node {a} does not hold exactly the 10,000 keys written"
        );
    }
    // At least 157 entries (64 clients, one write each in flight), with
    // snapshots every 100: the log is purged once the snapshot is built.
    let leader = wait_for_agreement(&addrs, WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while status_of(&leader).await.purged.is_none_or(|p| p == 0) {
        assert!(Instant::now() < deadline, "the leader never purged its log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // --- 2. Stop a follower, write more, restart it, watch it catch up.
    let follower = nodes.iter().position(|n| n.addr != leader).unwrap();
    nodes[follower].kill();
    let second = items("m", 0..2_000);
    expected.extend(second.iter().cloned());
    let live: Vec<String> = addrs
        .iter()
        .filter(|a| **a != addrs[follower])
        .cloned()
        .collect();
    write_all(&live, Arc::new(second), 64, WAIT).await.unwrap();
    nodes[follower].restart();
    let maps = maps_once_caught_up(&addrs).await;
    assert!(
        maps.iter().all(|m| *m == expected),
        "a node differs after the follower caught up"
    );
    println!(
        "follower {} caught up: {} keys on every node",
        follower + 1,
        expected.len()
    );

    // --- 3. SIGKILL the leader in the middle of writes.
    let leader = wait_for_agreement(&addrs, WAIT).await.unwrap();
    let old = nodes.iter().position(|n| n.addr == leader).unwrap();
    let old_term = status_of(&leader).await.term;
    // Far more than get through before the kill (about 1,000 keys in),
    // however fast the machine: the kill always finds writes in flight.
    let third = Arc::new(items("x", 0..200_000));
    let writers = tokio::spawn(write_until_failure(leader.clone(), third.clone(), 32));
    // Let some writes through, then kill while the rest are in flight.
    let mut c = Client::new(leader.clone());
    // (Counted in keys, not entries: an entry holds many writes.)
    let base = status_of(&leader).await.keys;
    let deadline = Instant::now() + WAIT;
    while c.status().await.unwrap().keys < base + 1_000 {
        assert!(
            Instant::now() < deadline,
            "the writers stalled before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    nodes[old].kill();
    let outcome = writers.await.unwrap();
    // The leader had applied 1,000 of them; most answers were on their way.
    assert!(
        outcome.acked.len() >= 500,
        "only {} acknowledged before the kill",
        outcome.acked.len()
    );
    assert!(!outcome.unknown.is_empty(), "the kill interrupted no write");
    let live: Vec<String> = addrs
        .iter()
        .filter(|a| **a != addrs[old])
        .cloned()
        .collect();
    let new_leader = wait_for_agreement(&live, WAIT).await.expect("a new leader");
    assert!(status_of(&new_leader).await.term > old_term);
    // The new leader takes writes; then the old one comes back as a follower.
    let fourth = items("y", 0..100);
    write_all(&live, Arc::new(fourth.clone()), 8, WAIT)
        .await
        .unwrap();
    nodes[old].restart();

    let maps = maps_once_caught_up(&addrs).await;
    let sent: BTreeMap<&str, &str> = third
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (i, map) in maps.iter().enumerate() {
        // Everything acknowledged is there, with its value.
        for (k, v) in expected
            .iter()
            .chain(outcome.acked.iter().map(|(k, v)| (k, v)))
            .chain(fourth.iter().map(|(k, v)| (k, v)))
        {
            assert_eq!(
                map.get(k),
                Some(v),
                "node {} lost acknowledged write {k}",
                i + 1
            );
        }
        // Nothing else, except writes that were sent but not answered.
        let unknown: BTreeSet<&str> = outcome.unknown.iter().map(|(k, _)| k.as_str()).collect();
        let acked = expected.len() + outcome.acked.len() + fourth.len();
        let extra: Vec<&String> = map
            .keys()
            .filter(|k| !expected.contains_key(*k) && !fourth.iter().any(|(f, _)| f == *k))
            .filter(|k| !outcome.acked.iter().any(|(a, _)| a == *k))
            .collect();
        assert!(
            extra
                .iter()
                .all(|k| unknown.contains(k.as_str()) && map[*k] == sent[k.as_str()]),
            "node {} holds writes that were never sent or never in flight: {extra:?}",
            i + 1
        );
        assert_eq!(map.len(), acked + extra.len());
        assert!(*map == maps[0], "nodes 1 and {} differ", i + 1);
    }
    println!(
        "leader kill: {} acknowledged writes all present on the new leader and the restarted node; \
         {} in flight at the kill, {} of them applied; test took {:?}",
        outcome.acked.len(),
        outcome.unknown.len(),
        maps[0].len() - expected.len() - outcome.acked.len() - fourth.len(),
        started.elapsed()
    );
}
