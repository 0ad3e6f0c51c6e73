//! Committed writes per second through a three-node cluster on 127.0.0.1
//! (in one process, real TCP between the nodes), with walstore as every
//! node's Raft log and then with an in-memory log (the upper bound), for
//! 64 B and 4 KiB values, all in the same run. The leader groups writes
//! that arrive together into one entry (`batcher`), so the table gives the
//! Raft entries per second and the writes per entry too.
//!
//! ```text
//! raft-bench [--writes N] [--concurrency C] [--dir DIR]
//! ```
//!
//! A write counts once the leader answers it: committed (on a majority's
//! log, durable for walstore) and applied. Keys cycle over 4,096 names so
//! that the state machine stays small whatever N is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use walstore_openraft::client::Client;
use walstore_openraft::load::{wait_for_agreement, write_all};
use walstore_openraft::node::{raft_config, start_node, NodeHandle};
use walstore_openraft::types::{Node, TypeConfig};
use walstore_openraft::{KvStateMachine, MemLogStore, WalLogStore};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, PartialEq)]
enum LogKind {
    Walstore,
    Memory,
}

struct Run {
    writes_per_sec: f64,
    /// Raft entries the leader's log gained per second.
    entries_per_sec: f64,
    /// Appends per fdatasync over the three walstore logs.
    group: Option<f64>,
}

async fn start_cluster(
    kind: LogKind,
    dir: &Path,
) -> AnyResult<(
    Vec<NodeHandle>,
    Vec<Arc<walstore_openraft::log_store::FlushStats>>,
)> {
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await?);
    }
    let mut nodes = Vec::new();
    let mut stats = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let node = match kind {
            LogKind::Walstore => {
                let log = WalLogStore::<TypeConfig>::open(dir.join(format!("node{id}")))?;
                stats.push(log.flush_stats());
                start_node(id, l, log, KvStateMachine::in_memory(), raft_config()).await?
            }
            LogKind::Memory => {
                start_node(
                    id,
                    l,
                    MemLogStore::default(),
                    KvStateMachine::in_memory(),
                    raft_config(),
                )
                .await?
            }
        };
        nodes.push(node);
    }
    let members: BTreeMap<u64, Node> = nodes
        .iter()
        .map(|n| (n.id, Node::new(n.addr.to_string())))
        .collect();
    Client::new(nodes[0].addr.to_string()).init(members).await?;
    Ok((nodes, stats))
}

async fn run(
    kind: LogKind,
    value_len: usize,
    writes: usize,
    concurrency: usize,
    dir: &Path,
) -> AnyResult<Run> {
    let _ = std::fs::remove_dir_all(dir);
    let (nodes, stats) = start_cluster(kind, dir).await?;
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    wait_for_agreement(&addrs, Duration::from_secs(30))
        .await
        .ok_or("no leader")?;
    let value = "v".repeat(value_len);
    let items = |n: usize| {
        Arc::new(
            (0..n)
                .map(|i| (format!("key{:04}", i % 4096), value.clone()))
                .collect::<Vec<_>>(),
        )
    };
    // Warm up: connections, the leader's replication streams, page cache.
    write_all(
        &addrs,
        items(writes / 10),
        concurrency,
        Duration::from_secs(120),
    )
    .await?;
    let last_index = || {
        nodes
            .iter()
            .filter_map(|n| n.raft.metrics().borrow().last_log_index)
            .max()
            .unwrap_or(0)
    };
    let first_index = last_index();
    let before: (u64, u64) = stats
        .iter()
        .fold((0, 0), |a, s| (a.0 + s.syncs(), a.1 + s.completions()));
    let took = write_all(&addrs, items(writes), concurrency, Duration::from_secs(300)).await?;
    let entries_made = last_index() - first_index;
    let after: (u64, u64) = stats
        .iter()
        .fold((0, 0), |a, s| (a.0 + s.syncs(), a.1 + s.completions()));
    let group = (kind == LogKind::Walstore && after.0 > before.0)
        .then(|| (after.1 - before.1) as f64 / (after.0 - before.0) as f64);
    for n in nodes {
        n.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(Run {
        writes_per_sec: writes as f64 / took.as_secs_f64(),
        entries_per_sec: entries_made as f64 / took.as_secs_f64(),
        group,
    })
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let writes: usize = arg(&args, "--writes").map_or(Ok(20_000), |v| v.parse())?;
    let concurrency: usize = arg(&args, "--concurrency").map_or(Ok(64), |v| v.parse())?;
    // On the real disk (not a tmpfs /tmp), or fdatasync would cost nothing.
    let dir = arg(&args, "--dir").map_or_else(|| PathBuf::from("target/raft-bench"), PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "raft-bench: 3 nodes on 127.0.0.1 in one process, {writes} writes per run, {concurrency} client connections, logs in {}",
        dir.display()
    );
    println!(
        "{:<8} {:>14} {:>14} {:>8} {:>18} {:>22}",
        "value", "walstore w/s", "memory w/s", "ratio", "appends per sync", "writes/entry wal|mem"
    );
    for value_len in [64, 4096] {
        let wal = rt.block_on(run(LogKind::Walstore, value_len, writes, concurrency, &dir))?;
        let mem = rt.block_on(run(LogKind::Memory, value_len, writes, concurrency, &dir))?;
        println!(
            "{:<8} {:>14.0} {:>14.0} {:>8.2} {:>18} {:>22}",
            if value_len == 64 { "64 B" } else { "4 KiB" },
            wal.writes_per_sec,
            mem.writes_per_sec,
            wal.writes_per_sec / mem.writes_per_sec,
            wal.group.map_or("-".to_owned(), |g| format!("{g:.1}")),
            format!(
                "{:.1} | {:.1}",
                wal.writes_per_sec / wal.entries_per_sec,
                mem.writes_per_sec / mem.entries_per_sec
            ),
        );
    }
    Ok(())
}
