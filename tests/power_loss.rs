//! Simulated power loss (`FaultVfs::with_power_loss`) at every Nth file
//! operation of many seeded random workloads: stores, batches, deletes,
//! overwrites, syncs, snapshots, compactions and reopens, under each
//! durability level.
//!
//! Each workload is first run without a crash to count its file operations
//! (T). It is then run again once per crash point n (a stride through 1..=T),
//! with the power lost just before operation n: unsynced bytes of each file
//! are dropped, cut at a random point, zeroed or garbled, and unsynced
//! creates, renames and removes are undone (see `src/vfs/fault/power.rs`).
//! After the crash the store is reopened through a fresh `FaultVfs`, and:
//!
//! - the open succeeds (a torn tail is cut and reported), except where the
//!   log's creation was cut short and its header sector reads back as
//!   garbage, which FORMAT §1 does not assume; there the open must refuse
//!   exactly as FORMAT §4.1 says for those header bytes;
//! - the store holds exactly the durable state (every write acknowledged
//!   under `Fsync`, or covered by a completed `sync`, `snapshot` or `close`)
//!   plus a prefix of the calls made after it (acknowledged under
//!   `Flush`/`None`, or in flight at the crash), each whole: no batch is
//!   half applied, no id holds bytes never stored for it, a deleted id stays
//!   deleted unless a later store of it may have survived;
//! - the recovered store takes new durable writes, and a plain `StdVfs`
//!   reopen finds them and everything else, with no torn tail.
//!
//! `WALSTORE_POWER_LOSS_CASES` sets the number of workloads (default 48);
//! `WALSTORE_POWER_LOSS_POINTS` the crash points per workload (default 14);
//! `WALSTORE_POWER_LOSS_SEED` the first workload seed. `make power-loss`
//! runs a long campaign.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use walstore::format::{FileHeader, HeaderError};
use walstore::vfs::{CrashPolicy, CrashReport, CrashRng, FaultVfs, FileCrash, Vfs};
use walstore::{Durability, ErrorKind, Options, Store};
mod common;
use common::{payload, tmp};

const LOG_NAME: &str = "wal-0000000000000001.log";
/// Ids used by the workloads; ids from `NEW_ID` on are written after the
/// crash.
const ID_SPACE: u64 = 24;
const NEW_ID: u64 = 1000;

type Model = BTreeMap<u64, Vec<u8>>;
/// One writing call: every (id, payload or None for a delete), in order.
type Mutation = Vec<(u64, Option<Vec<u8>>)>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
enum Step {
    Store(u64, Vec<u8>),
    Batch(Vec<(u64, Vec<u8>)>),
    /// Deletes the id if it is live (the workload knows), else stores it.
    DeleteOrStore(u64, Vec<u8>),
    Sync,
    Snapshot,
    Reopen,
    Read(u64),
    /// `Store::compact`: a new log generation replaces the current one.
    Compact,
}

#[derive(Debug, Clone)]
struct Workload {
    seed: u64,
    durability: Durability,
    write_buffer: usize,
    steps: Vec<Step>,
}

impl Workload {
    fn new(seed: u64) -> Workload {
        let mut r = CrashRng::new(seed);
        let durability = match r.below(3) {
            0 => Durability::Fsync,
            1 => Durability::Flush,
            _ => Durability::None,
        };
        let write_buffer = [64usize, 256, 1024, 4096][r.below(4) as usize];
        let mut version = 0u64;
        let len = |r: &mut CrashRng| match r.below(10) {
            0 => 0,
            1 => 600 + r.below(1500) as usize,
            _ => 1 + r.below(120) as usize,
        };
        let n = 10 + r.below(20);
        let mut steps = Vec::new();
        for _ in 0..n {
            version += 1;
            let id = r.below(ID_SPACE);
            let step = match r.below(100) {
                0..=34 => Step::Store(id, payload(id, version, len(&mut r))),
                35..=49 => {
                    let k = 2 + r.below(4);
                    Step::Batch(
                        (0..k)
                            .map(|i| {
                                let id = r.below(ID_SPACE);
                                (id, payload(id, version * 16 + i, len(&mut r)))
                            })
                            .collect(),
                    )
                }
                50..=64 => Step::DeleteOrStore(id, payload(id, version, len(&mut r))),
                65..=74 => Step::Sync,
                75..=81 => Step::Snapshot,
                82..=88 => Step::Reopen,
                89..=94 => Step::Compact,
                _ => Step::Read(id),
            };
            steps.push(step);
        }
        Workload {
            seed,
            durability,
            write_buffer,
            steps,
        }
    }

    fn options(&self) -> Options {
        let mut o = Options::new();
        o.set_durability(self.durability);
        o.set_auto_snapshot(false);
        o.set_write_buffer(self.write_buffer).unwrap();
        o
    }
}

fn apply(m: &mut Model, mu: &Mutation) {
    for (id, v) in mu {
        match v {
            Some(p) => m.insert(*id, p.clone()),
            None => m.remove(id),
        };
    }
}

/// Counts the compactions the runs started (reported at the end).
static COMPACTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn t_compactions(n: u64) {
    COMPACTIONS.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// The current log: the highest generation's name in the directory.
fn current_log(d: &Path) -> Option<PathBuf> {
    let mut logs: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.len() == LOG_NAME.len()
                && n.starts_with("wal-")
                && n.ends_with(".log")
                && n[4..20]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .collect();
    logs.sort();
    logs.pop().map(|n| d.join(n))
}

/// What a run (up to its crash) acknowledged.
struct Acked {
    /// The state every acknowledged-durable write gives.
    durable: Model,
    /// The calls after it: acknowledged but not durable, then the one in
    /// flight at the crash, if any.
    pending: Vec<Mutation>,
    crashed: bool,
    report: Option<CrashReport>,
    total_ops: u64,
}

/// Runs the workload through `vfs` until it ends or the armed crash fires.
fn run(w: &Workload, dir: &Path, vfs: &FaultVfs) -> Acked {
    let o = w.options();
    let mut a = Acked {
        durable: Model::new(),
        pending: Vec::new(),
        crashed: false,
        report: None,
        total_ops: 0,
    };
    let fsync = w.durability == Durability::Fsync;
    // The crash makes every call fail; anything else failing is a bug.
    let crashed = |e: &walstore::Error, what: &str| {
        assert!(
            vfs.crashed(),
            "seed {}: {what} failed without a crash: {e}",
            w.seed
        );
    };
    let mut store = match Store::open_with_vfs(vfs.clone(), dir, &o) {
        Ok(s) => s,
        Err(e) => {
            crashed(&e, "first open");
            return finish(a, vfs, true);
        }
    };
    for step in &w.steps {
        let mut visible = a.durable.clone();
        for mu in &a.pending {
            apply(&mut visible, mu);
        }
        let (mu, r): (Option<Mutation>, walstore::Result<()>) = match step {
            Step::Store(id, p) => (Some(vec![(*id, Some(p.clone()))]), store.store(*id, p)),
            Step::Batch(es) => {
                let refs: Vec<(u64, &[u8])> = es.iter().map(|(i, p)| (*i, &p[..])).collect();
                (
                    Some(es.iter().map(|(i, p)| (*i, Some(p.clone()))).collect()),
                    store.store_batch(&refs),
                )
            }
            Step::DeleteOrStore(id, p) => {
                if visible.contains_key(id) {
                    (Some(vec![(*id, None)]), store.delete(*id))
                } else {
                    let e = store.delete(*id).unwrap_err();
                    if e.kind() != ErrorKind::NotFound {
                        crashed(&e, "delete of an absent id");
                        return finish(a, vfs, true);
                    }
                    (Some(vec![(*id, Some(p.clone()))]), store.store(*id, p))
                }
            }
            Step::Sync => (None, store.sync()),
            Step::Snapshot => (None, store.snapshot().map(drop)),
            Step::Compact => {
                t_compactions(1);
                (None, store.compact().map(drop))
            }
            Step::Reopen => match store.close() {
                Ok(()) => {
                    for mu in a.pending.drain(..) {
                        apply(&mut a.durable, &mu);
                    }
                    match Store::open_with_vfs(vfs.clone(), dir, &o) {
                        Ok(s) => {
                            store = s;
                            continue;
                        }
                        Err(e) => {
                            crashed(&e, "reopen");
                            return finish(a, vfs, true);
                        }
                    }
                }
                Err(e) => {
                    crashed(&e, "close");
                    return finish(a, vfs, true);
                }
            },
            Step::Read(id) => match store.retrieve(*id) {
                Ok(p) => {
                    assert_eq!(Some(&p), visible.get(id), "seed {}: read {id}", w.seed);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::NotFound && !visible.contains_key(id) => continue,
                Err(e) => {
                    crashed(&e, "read");
                    return finish(a, vfs, true);
                }
            },
        };
        match (r, mu) {
            (Ok(()), Some(mu)) if fsync => {
                assert!(a.pending.is_empty());
                apply(&mut a.durable, &mu);
            }
            (Ok(()), Some(mu)) => a.pending.push(mu),
            (Ok(()), None) => {
                for mu in a.pending.drain(..) {
                    apply(&mut a.durable, &mu);
                }
            }
            (Err(e), mu) => {
                crashed(&e, &format!("{step:?}"));
                a.pending.extend(mu);
                drop(store);
                return finish(a, vfs, true);
            }
        }
    }
    match store.close() {
        Ok(()) => {
            for mu in a.pending.drain(..) {
                apply(&mut a.durable, &mu);
            }
            finish(a, vfs, false)
        }
        Err(e) => {
            crashed(&e, "final close");
            finish(a, vfs, true)
        }
    }
}

fn finish(mut a: Acked, vfs: &FaultVfs, crashed: bool) -> Acked {
    // A crash can also hit a call whose failure the engine absorbs by
    // design (a compaction's removal of the generation it replaced), with
    // nothing failing after it (a close with nothing left to sync).
    a.crashed = crashed || vfs.crashed();
    a.report = vfs.crash_report();
    a.total_ops = vfs.total_ops();
    a
}

/// What an open must say about a log whose creation the crash cut short,
/// from its bytes (FORMAT §4.1): `None` when it opens (unfinished and
/// re-initialised, or valid).
fn header_verdict(bytes: &[u8]) -> Option<ErrorKind> {
    if bytes.len() <= 64 && bytes.iter().all(|b| *b == 0) {
        return None;
    }
    match FileHeader::decode(&bytes[..bytes.len().min(64)]) {
        Ok(_) => None,
        Err(HeaderError::TooShort {
            prefix_agrees: true,
            ..
        }) => None,
        Err(HeaderError::BadCrc { .. }) => Some(ErrorKind::Corruption),
        Err(_) => Some(ErrorKind::Incompatible),
    }
}

#[derive(Debug, Default)]
struct Tally {
    workloads: u64,
    by_durability: BTreeMap<String, u64>,
    crash_points: u64,
    not_reached: u64,
    opens_ok: u64,
    torn_tails_cut: u64,
    reinitialised: u64,
    snapshot_used: u64,
    snapshots_rejected: u64,
    refused_garbage_header: u64,
    pending_calls: u64,
    pending_survived: u64,
    acked_durable_ids_checked: u64,
    file_treatments: BTreeMap<FileCrash, u64>,
    dir_ops_unsynced: u64,
    dir_ops_kept: u64,
    names_vanished: u64,
    names_reappeared: u64,
    ops_per_workload: Vec<u64>,
}

/// Every id of the id space reads as in `m`, and nothing else is live.
fn matches<V: Vfs>(s: &Store<V>, m: &Model) -> bool {
    if s.len() != m.len() {
        return false;
    }
    (0..ID_SPACE).all(|id| match (s.retrieve(id), m.get(&id)) {
        (Ok(got), Some(want)) => &got == want,
        (Err(e), None) => e.kind() == ErrorKind::NotFound,
        _ => false,
    })
}

fn describe<V: Vfs>(s: &Store<V>) -> String {
    (0..ID_SPACE)
        .map(|id| match s.retrieve(id) {
            Ok(p) => format!(
                "{id}:{}b:{:?}",
                p.len(),
                String::from_utf8_lossy(&p[..p.len().min(14)])
            ),
            Err(e) => format!("{id}:{:?}", e.kind()),
        })
        .filter(|x| !x.ends_with("NotFound"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn crash_point(w: &Workload, n: u64, crash_seed: u64, t: &mut Tally) {
    let dir = tmp();
    let d = dir.path();
    let ctx = format!(
        "workload seed {} ({:?}, buffer {}), crash before op {n}, crash seed {crash_seed}",
        w.seed, w.durability, w.write_buffer
    );
    let vfs = FaultVfs::with_power_loss();
    vfs.crash_at(n, CrashPolicy::Random(crash_seed));
    let a = run(w, d, &vfs);
    t.crash_points += 1;
    if !a.crashed {
        // This run made fewer calls than the dry run (none so far).
        t.not_reached += 1;
        if t.not_reached <= 3 {
            eprintln!(
                "[power_loss] not reached: {ctx}; this run made {} calls",
                a.total_ops
            );
        }
        return;
    }
    let report = a.report.clone().expect("a crash report");
    for f in &report.files {
        *t.file_treatments.entry(f.treatment).or_default() += 1;
    }
    for x in &report.dirs {
        t.dir_ops_unsynced += x.unsynced_ops as u64;
        t.dir_ops_kept += x.kept_ops as u64;
        t.names_vanished += x.vanished.len() as u64;
        t.names_reappeared += x.reappeared.len() as u64;
    }
    let ctx = format!("{ctx}\n{report}");

    // What the open must do: a log that was never synced is judged by its
    // header bytes; any other opens.
    let log: PathBuf = current_log(d).unwrap_or_else(|| d.join(LOG_NAME));
    let expect_refusal = match report.file(&log) {
        Some(f) if !f.ever_synced => header_verdict(&std::fs::read(&log).unwrap()),
        _ => None,
    };
    let o = w.options();
    let v2 = FaultVfs::with_power_loss();
    let s = match (Store::open_with_vfs(v2.clone(), d, &o), expect_refusal) {
        (Ok(s), None) => s,
        (Err(e), Some(kind)) => {
            assert_eq!(e.kind(), kind, "{ctx}: {e}");
            assert!(e.to_string().contains(LOG_NAME), "{ctx}: {e}");
            t.refused_garbage_header += 1;
            // Nothing acknowledged can be lost there: the log never held a
            // synced byte.
            assert!(a.durable.is_empty(), "{ctx}");
            return;
        }
        (Ok(_), Some(kind)) => panic!("{ctx}: open succeeded, expected {kind:?}"),
        (Err(e), None) => panic!("{ctx}: open failed: {e}"),
    };
    t.opens_ok += 1;
    let rep = s.open_report().clone();
    if let Some(tail) = &rep.torn_tail {
        t.torn_tails_cut += 1;
        let saved = tail
            .saved_to
            .as_ref()
            .expect("a writable open saves the tail");
        assert_eq!(
            std::fs::metadata(saved).unwrap().len(),
            tail.bytes,
            "{ctx}: side file"
        );
        assert_eq!(
            std::fs::metadata(&rep.log_path).unwrap().len(),
            tail.offset,
            "{ctx}"
        );
    }
    t.reinitialised += rep.reinitialised as u64;
    t.snapshot_used += rep.snapshot_used.is_some() as u64;
    t.snapshots_rejected += rep.snapshots_rejected.len() as u64;

    // Exactly the durable state plus a prefix of the later calls.
    let mut state = a.durable.clone();
    let mut found = matches(&s, &state).then_some(0);
    for (i, mu) in a.pending.iter().enumerate() {
        if found.is_some() {
            break;
        }
        apply(&mut state, mu);
        if matches(&s, &state) {
            found = Some(i + 1);
        }
    }
    let Some(j) = found else {
        panic!(
            "{ctx}\nstore after the crash: {}\ndurable: {:?}\npending calls: {}\nopen report: {rep:?}",
            describe(&s),
            a.durable.keys().collect::<Vec<_>>(),
            a.pending.len()
        );
    };
    if rep.reinitialised {
        assert!(state.is_empty() || j == 0 && a.durable.is_empty(), "{ctx}");
    }
    t.pending_calls += a.pending.len() as u64;
    t.pending_survived += j as u64;
    t.acked_durable_ids_checked += a.durable.len() as u64;
    let mut state = a.durable.clone();
    for mu in &a.pending[..j] {
        apply(&mut state, mu);
    }

    // The recovered store takes durable writes, and they stay.
    let mut o2 = o.clone();
    o2.set_durability(Durability::Fsync);
    drop(s);
    let s = Store::open_with_vfs(v2.clone(), d, &o2).unwrap();
    assert_eq!(s.open_report().torn_tail, None, "{ctx}");
    let p = payload(NEW_ID, n, 40);
    s.store(NEW_ID, &p).unwrap();
    s.store_batch(&[(NEW_ID + 1, b"x"), (NEW_ID + 2, b"yz")])
        .unwrap();
    s.close().unwrap();
    let s = Store::open(d, &o2).unwrap();
    assert_eq!(s.open_report().torn_tail, None, "{ctx}");
    assert_eq!(s.len(), state.len() + 3, "{ctx}");
    assert!(matches_ids(&s, &state), "{ctx}");
    assert_eq!(s.retrieve(NEW_ID).unwrap(), p, "{ctx}");
    assert_eq!(s.retrieve(NEW_ID + 2).unwrap(), b"yz", "{ctx}");
    s.close().unwrap();
}

/// `matches` for the id space only (new ids are checked apart).
fn matches_ids<V: Vfs>(s: &Store<V>, m: &Model) -> bool {
    (0..ID_SPACE).all(|id| match (s.retrieve(id), m.get(&id)) {
        (Ok(got), Some(want)) => &got == want,
        (Err(e), None) => e.kind() == ErrorKind::NotFound,
        _ => false,
    })
}

#[test]
fn power_loss_at_every_nth_operation() {
    let cases = env_u64("WALSTORE_POWER_LOSS_CASES", 48);
    let points = env_u64("WALSTORE_POWER_LOSS_POINTS", 14).max(1);
    let first = env_u64("WALSTORE_POWER_LOSS_SEED", 1);
    let started = Instant::now();
    let mut t = Tally::default();
    for seed in first..first + cases {
        let w = Workload::new(seed);
        // Dry run: how many file operations the workload makes.
        let dir = tmp();
        let vfs = FaultVfs::with_power_loss();
        let a = run(&w, dir.path(), &vfs);
        assert!(!a.crashed);
        let total = a.total_ops;
        drop(dir);
        t.workloads += 1;
        *t.by_durability
            .entry(format!("{:?}", w.durability))
            .or_default() += 1;
        t.ops_per_workload.push(total);
        let stride = (total / points).max(1);
        let mut r = CrashRng::new(seed ^ 0xC0FFEE);
        let mut n = 1 + r.below(stride);
        while n <= total {
            crash_point(&w, n, r.next_u64(), &mut t);
            n += stride;
        }
    }
    let ops: u64 = t.ops_per_workload.iter().sum();
    eprintln!(
        "[power_loss] {} workloads {:?}, {} file ops in all (min {}, max {} per workload), \
         seeds {first}..{}",
        t.workloads,
        t.by_durability,
        ops,
        t.ops_per_workload.iter().min().unwrap(),
        t.ops_per_workload.iter().max().unwrap(),
        first + cases - 1
    );
    eprintln!(
        "[power_loss] compactions started in all runs: {}",
        COMPACTIONS.load(std::sync::atomic::Ordering::Relaxed)
    );
    eprintln!(
        "[power_loss] {} crash points tried ({} not reached); opens: {} ok, {} cut a torn tail, \
         {} reinitialised, {} loaded a snapshot, {} snapshots rejected, {} refused a garbage \
         header of a never-synced log",
        t.crash_points,
        t.not_reached,
        t.opens_ok,
        t.torn_tails_cut,
        t.reinitialised,
        t.snapshot_used,
        t.snapshots_rejected,
        t.refused_garbage_header
    );
    eprintln!(
        "[power_loss] not-yet-durable calls at the crash: {} ({} survived as a prefix, {} lost); \
         acknowledged-durable ids checked: {}",
        t.pending_calls,
        t.pending_survived,
        t.pending_calls - t.pending_survived,
        t.acked_durable_ids_checked
    );
    eprintln!(
        "[power_loss] file treatments {:?}; directory ops unsynced {} (kept {}), names vanished \
         {}, reappeared {}; took {:?}",
        t.file_treatments,
        t.dir_ops_unsynced,
        t.dir_ops_kept,
        t.names_vanished,
        t.names_reappeared,
        started.elapsed()
    );
    assert_eq!(
        t.crash_points,
        t.opens_ok + t.refused_garbage_header + t.not_reached
    );
    assert!(t.torn_tails_cut > 0 && t.opens_ok > 0);
}

/// A crash with every file treated the same way, at every op of one
/// workload of each durability level: the worst cases, one at a time.
#[test]
fn power_loss_each_treatment_everywhere() {
    let started = Instant::now();
    let mut t = Tally::default();
    for (seed, d) in [
        (7001, Durability::Fsync),
        (7002, Durability::Flush),
        (7003, Durability::None),
    ] {
        let mut w = Workload::new(seed);
        w.durability = d;
        let dir = tmp();
        let a = run(&w, dir.path(), &FaultVfs::with_power_loss());
        let total = a.total_ops;
        for treatment in [
            FileCrash::Drop,
            FileCrash::Prefix,
            FileCrash::Zeros,
            FileCrash::Garbage,
        ] {
            let stride = (total / 10).max(1);
            let mut n = 1 + seed % stride;
            while n <= total {
                crash_point_fixed(&w, n, treatment, &mut t);
                n += stride;
            }
        }
    }
    eprintln!(
        "[power_loss] fixed treatments: {} crash points, {} opens ok, {} torn tails cut, {} \
         reinitialised, {} refused garbage headers; took {:?}",
        t.crash_points,
        t.opens_ok,
        t.torn_tails_cut,
        t.reinitialised,
        t.refused_garbage_header,
        started.elapsed()
    );
}

/// As `crash_point`, with one treatment for every file.
fn crash_point_fixed(w: &Workload, n: u64, treatment: FileCrash, t: &mut Tally) {
    // The random policy's checks apply unchanged; only the policy differs.
    let dir = tmp();
    let d = dir.path();
    let vfs = FaultVfs::with_power_loss();
    vfs.crash_at(n, CrashPolicy::Every(treatment, w.seed ^ n));
    let a = run(w, d, &vfs);
    t.crash_points += 1;
    assert!(a.crashed, "seed {} op {n} of {}", w.seed, a.total_ops);
    let report = a.report.clone().expect("crashed");
    let log = current_log(d).unwrap_or_else(|| d.join(LOG_NAME));
    let ctx = format!("seed {} {treatment:?} before op {n}\n{report}", w.seed);
    let expect_refusal = match report.file(&log) {
        Some(f) if !f.ever_synced => header_verdict(&std::fs::read(&log).unwrap()),
        _ => None,
    };
    let o = w.options();
    match (Store::open_with_vfs(FaultVfs::new(), d, &o), expect_refusal) {
        (Ok(s), None) => {
            t.opens_ok += 1;
            t.torn_tails_cut += s.open_report().torn_tail.is_some() as u64;
            t.reinitialised += s.open_report().reinitialised as u64;
            let mut state = a.durable.clone();
            let mut ok = matches(&s, &state);
            for mu in &a.pending {
                if ok {
                    break;
                }
                apply(&mut state, mu);
                ok = matches(&s, &state);
            }
            assert!(ok, "{ctx}\nstore: {}", describe(&s));
        }
        (Err(e), Some(kind)) => {
            assert_eq!(e.kind(), kind, "{ctx}: {e}");
            t.refused_garbage_header += 1;
        }
        (Ok(_), Some(kind)) => panic!("{ctx}: open succeeded, expected {kind:?}"),
        (Err(e), None) => panic!("{ctx}: open failed: {e}"),
    }
}
