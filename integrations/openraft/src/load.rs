//! Client load for the tests and the bench: many connections writing keys
//! through the leader at once, which is what lets openraft batch entries
//! and the log share syncs.

use crate::client::{CallError, Client};
use crate::network::ClientError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The node that says it leads, asking every address in turn.
pub async fn find_leader(addrs: &[String]) -> Option<String> {
    for a in addrs {
        let mut c = Client::new(a.clone());
        c.set_timeout(Duration::from_secs(2));
        if let Ok(s) = c.status().await {
            if s.is_leader {
                return Some(a.clone());
            }
        }
    }
    None
}

/// Polls until some node leads, or `within` passes.
pub async fn wait_for_leader(addrs: &[String], within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(l) = find_leader(addrs).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Polls until every node in `addrs` answers and all name the same leader
/// in the same term, and that leader says it leads; returns its address.
/// A node restarted from its directory may briefly believe it still leads
/// its old term: [`find_leader`] could pick it, this does not.
pub async fn wait_for_agreement(addrs: &[String], within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let mut views = Vec::new();
        for a in addrs {
            let mut c = Client::new(a.clone());
            c.set_timeout(Duration::from_secs(2));
            views.push(c.status().await.ok());
        }
        let views: Option<Vec<_>> = views.into_iter().collect();
        if let Some(views) = views {
            let (leader, term) = (views[0].leader, views[0].term);
            let agree = views.iter().all(|v| v.leader == leader && v.term == term);
            if let (true, Some(l)) = (agree, leader) {
                if let Some(i) = views.iter().position(|v| v.id == l && v.is_leader) {
                    return Some(addrs[i].clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Writes every item through the leader of `addrs`, `concurrency` at a
/// time. A write that is refused or unanswered (a leader change) is sent
/// again to whichever node leads then: setting a key to the same value
/// twice is harmless. Fails if some write is still not acknowledged after
/// `within`. Returns the time taken.
pub async fn write_all(
    addrs: &[String],
    items: Arc<Vec<(String, String)>>,
    concurrency: usize,
    within: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + within;
    let next = Arc::new(AtomicUsize::new(0));
    let leader = wait_for_leader(addrs, within).await.ok_or("no leader")?;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (items, next, addrs) = (items.clone(), next.clone(), addrs.to_vec());
        let mut client = Client::new(leader.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((k, v)) = items.get(i) else {
                    return Ok(());
                };
                while let Err(e) = client.set(k.as_str(), v.as_str()).await {
                    if Instant::now() > deadline {
                        return Err(format!("write of {k:?} not acknowledged in time: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let to = match e {
                        CallError::Refused(ClientError::ForwardToLeader(Some((_, addr)))) => {
                            Some(addr)
                        }
                        _ => find_leader(&addrs).await,
                    };
                    if let Some(addr) = to {
                        client = Client::new(addr);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(start.elapsed())
}

/// What became of writes sent while the cluster may fail.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Acknowledged: committed and applied. These must survive.
    pub acked: Vec<(String, String)>,
    /// Sent without a success answer: each may or may not have been applied.
    pub unknown: Vec<(String, String)>,
}

/// Writes items through `addr` until each writer meets its first failure
/// (then it stops: its write is unknown, and the rest are never sent).
pub async fn write_until_failure(
    addr: String,
    items: Arc<Vec<(String, String)>>,
    concurrency: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (items, next, outcome) = (items.clone(), next.clone(), outcome.clone());
        let mut client = Client::new(addr.clone());
        // Generous: a write that merely took long before the kill must not
        // stop its writer (a killed node fails its writes at once).
        client.set_timeout(Duration::from_secs(30));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(kv) = items.get(i) else { return };
                let ok = client.set(kv.0.as_str(), kv.1.as_str()).await.is_ok();
                let mut o = outcome.lock().unwrap_or_else(|p| p.into_inner());
                if ok {
                    o.acked.push(kv.clone());
                } else {
                    o.unknown.push(kv.clone());
                    return;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut o = outcome.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *o)
}

/// Waits until the node at `addr` has applied at least `index`.
pub async fn wait_applied(addr: &str, index: u64, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut c = Client::new(addr.to_owned());
    c.set_timeout(Duration::from_secs(2));
    loop {
        let last = c.status().await.ok().and_then(|s| s.last_applied);
        if last.is_some_and(|l| l >= index) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{addr} applied only {last:?} of {index} within {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
