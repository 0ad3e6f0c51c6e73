//! The figures the snapshot and compaction work is judged by, from one run:
//!
//! - open time of 1,000,000 entries of 100 bytes, from a snapshot against a
//!   full replay of the log;
//! - memory per indexed entry: the index's own count and the growth of the
//!   process's resident set while the entries were loaded;
//! - log size before and after compacting a store in which 90% of the
//!   payloads were overwritten.
//!
//! `make figures` runs it in release mode (`FIGURES_ENTRIES` scales it).
//! Timings come from one machine at one moment: compare the ratios.

use std::time::{Duration, Instant};
use walstore::{Durability, Options, Store, WriteBatch};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn opts() -> Options {
    let mut o = Options::default();
    o.set_durability(Durability::None)
        .set_auto_snapshot(false)
        .set_auto_compact(0.0, 0)
        .expect("0 turns automatic compaction off");
    o
}

fn payload(id: u64, version: u64) -> [u8; 100] {
    let mut p = [0u8; 100];
    let mut x = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ version;
    for b in p.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    p
}

fn fill(store: &Store, n: u64, version: u64) {
    let mut b = WriteBatch::new();
    for id in 0..n {
        b.store(id, &payload(id, version));
        if b.len() == 10_000 {
            store.write_batch(&b).unwrap();
            b.clear();
        }
    }
    if !b.is_empty() {
        store.write_batch(&b).unwrap();
    }
    store.sync().unwrap();
}

/// The best of three opens (page cache warm), and the last store opened.
fn timed_open(dir: &std::path::Path) -> (Duration, Store) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..3 {
        drop(last.take());
        let t = Instant::now();
        let s = Store::open(dir, &opts()).unwrap();
        best = best.min(t.elapsed());
        last = Some(s);
    }
    (best, last.unwrap())
}

fn main() {
    let n: u64 = std::env::var("FIGURES_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base =
        tempfile::tempdir_in(std::env::var("FIGURES_DIR").unwrap_or_else(|_| ".".into())).unwrap();

    // Open time and memory.
    let dir = base.path().join("open");
    {
        let rss0 = rss_bytes();
        let s = Store::open(&dir, &opts()).unwrap();
        fill(&s, n, 0);
        let grown = rss_bytes().saturating_sub(rss0);
        println!(
            "memory: {n} entries: index {} bytes = {:.1} bytes per entry; resident set grew by {:.1} bytes per entry while loading",
            s.index_memory_bytes(),
            s.index_memory_bytes() as f64 / n as f64,
            grown as f64 / n as f64
        );
        s.close().unwrap();
    }
    let (full, s) = timed_open(&dir);
    assert_eq!(s.open_report().snapshot_used, None);
    assert_eq!(s.len() as u64, n);
    s.snapshot().unwrap();
    drop(s);
    let (snap, s) = timed_open(&dir);
    assert!(s.open_report().snapshot_used.is_some());
    assert_eq!(s.len() as u64, n);
    drop(s);
    println!(
        "open of {n} entries of 100 B: full replay {:.1} ms, from a snapshot {:.1} ms: {:.2}x faster",
        full.as_secs_f64() * 1e3,
        snap.as_secs_f64() * 1e3,
        full.as_secs_f64() / snap.as_secs_f64()
    );

    // Compaction of a store with 90% of its payloads overwritten.
    let dir = base.path().join("compact");
    let s = Store::open(&dir, &opts()).unwrap();
    let live = n / 10;
    for version in 0..10 {
        fill(&s, live, version);
    }
    let before = s.stats();
    let t = Instant::now();
    let r = s.compact().unwrap();
    let took = t.elapsed();
    let after = s.stats();
    println!(
        "compaction, {live} ids each written 10 times (90% of payloads overwritten): log {} -> {} bytes ({:.1}% of before; dead ratio {:.3} -> {:.3}), {} live ids, {:.0} ms",
        r.bytes_before,
        r.bytes_after,
        r.bytes_after as f64 * 100.0 / r.bytes_before as f64,
        before.dead_ratio,
        after.dead_ratio,
        r.live_ids,
        took.as_secs_f64() * 1e3
    );
    for id in (0..live).step_by(997) {
        assert_eq!(s.retrieve(id).unwrap(), payload(id, 9));
    }
}
