//! Error injection at every call: one fixed workload (open that creates the
//! store, stores, a batch, deletes, overwrites, snapshots, syncs, a close, a
//! torn tail cut by the next open, reads, a final reopen) is run once per
//! (call kind, N, fault): the Nth call of that kind fails with EIO, then with
//! ENOSPC, then (writes only) as a short write followed by ENOSPC, for every
//! N from 1 to the number of such calls the workload makes. A last pass
//! fails the Nth write and the truncate that would roll it back.
//!
//! Each run checks, for the call that hit the fault:
//! - it fails with `ErrorKind::Io` (EIO) or `NoSpace` (ENOSPC), or
//!   `Poisoned` when the rollback also failed, and its message names the
//!   file the fault hit;
//! - after a failed fsync/fdatasync of the log (or a failed rollback) the
//!   handle refuses writes (`Poisoned`); after any other failure it takes
//!   the next write;
//! - reads return exactly the acknowledged state, on the failed handle too;
//! - after closing, clearing the faults and reopening, the store holds
//!   exactly what was acknowledged (plus the failed call's records when the
//!   fault hit the fdatasync after they were written: they are in the file),
//!   and takes a write.
//!
//! Four faults do not reach the caller, by design: a failure to remove the
//! generation a compaction replaced (or to fsync the directory after), which
//! `CompactReport::cleanup_error` reports and the next open finishes; a failed open or read of
//! a snapshot file during a store's open rejects the snapshot (it is a cache: the open
//! replays the whole log instead and reports the rejection); a failed
//! `fallocate` leaves the write to grow the file itself; and a failed
//! truncate of the free space at close leaves zeros that the next open
//! takes as free space. The first two are checked and counted apart; for
//! the last two the run's checks (exact state after the reopen) hold.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use walstore::vfs::{FaultKind, FaultVfs, Op};
use walstore::{Durability, ErrorKind, Options, Store};
mod common;
use common::{payload, tmp};

const LOG_NAME: &str = "wal-0000000000000001.log";
const EIO: FaultKind = FaultKind::Errno(libc::EIO);
const ENOSPC: FaultKind = FaultKind::Errno(libc::ENOSPC);
const SHORT: FaultKind = FaultKind::ShortWrite(libc::ENOSPC);

const KINDS: [Op; 13] = [
    Op::Write,
    Op::Allocate,
    Op::SyncData,
    Op::SyncAll,
    Op::Read,
    Op::Rename,
    Op::SetLen,
    Op::Open,
    Op::SyncDir,
    Op::Remove,
    Op::Lock,
    Op::ListDir,
    Op::CreateDir,
];

type Model = BTreeMap<u64, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    Open,
    Store(u64, u64, usize),
    Batch(Vec<(u64, u64, usize)>),
    Delete(u64),
    Read(u64),
    Sync,
    Snapshot,
    Close,
    Compact,
    /// Appends 20 bytes of garbage to the closed log: a torn tail.
    Tear,
}

fn workload() -> Vec<Step> {
    use Step::*;
    vec![
        Open,
        Store(1, 1, 100),
        Store(2, 1, 0),
        Store(3, 1, 700),
        Batch(vec![(4, 1, 10), (5, 1, 20), (1, 2, 30)]),
        Delete(2),
        Snapshot,
        Store(6, 1, 50),
        Store(1, 3, 60),
        Close,
        Tear,
        Open,
        Read(3),
        Store(7, 1, 40),
        Batch(vec![(8, 1, 5), (3, 2, 300)]),
        Delete(5),
        Sync,
        Snapshot,
        Compact,
        Store(9, 1, 1),
        Read(1),
        Delete(8),
        Compact,
        Read(3),
        Close,
        Open,
        Read(9),
        Close,
    ]
}

fn opts() -> Options {
    let mut o = Options::new();
    o.set_durability(Durability::Fsync);
    o.set_auto_snapshot(false);
    o
}

fn expected_kind(f: FaultKind) -> ErrorKind {
    match f {
        FaultKind::Errno(e) | FaultKind::ShortWrite(e) if e == libc::ENOSPC => ErrorKind::NoSpace,
        _ => ErrorKind::Io,
    }
}

/// `wal-<16 lowercase hex>.log`, as FORMAT §2 defines a log's name.
fn is_log_path(p: &Path) -> bool {
    let n = p.file_name().unwrap_or_default().to_string_lossy();
    n.len() == LOG_NAME.len()
        && n.starts_with("wal-")
        && n.ends_with(".log")
        && n[4..20]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The current log: the highest generation.
fn current_log(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| is_log_path(p))
        .collect();
    logs.sort();
    logs.pop().expect("a log")
}

/// Every id 0..16 reads as in `m`, and nothing else is live.
fn check<V: walstore::vfs::Vfs>(s: &Store<V>, m: &Model, ctx: &str) {
    for id in 0..16u64 {
        match (s.retrieve(id), m.get(&id)) {
            (Ok(got), Some(want)) => assert_eq!(&got, want, "{ctx}: id {id}"),
            (Err(e), None) => assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}: id {id}: {e}"),
            (got, want) => panic!("{ctx}: id {id}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(s.len(), m.len(), "{ctx}");
}

#[derive(Debug, Default)]
struct Tally {
    runs: u64,
    by_kind: BTreeMap<String, u64>,
    failed_open: u64,
    failed_write_call: u64,
    failed_other_call: u64,
    poisoned: u64,
    usable_after: u64,
    inflight_present: u64,
    snapshot_read_rejected: u64,
    compact_cleanup_reported: u64,
    not_reached: u64,
}

/// The mutation a write step makes, if any.
fn mutation(step: &Step) -> Vec<(u64, Option<Vec<u8>>)> {
    match step {
        Step::Store(id, v, l) => vec![(*id, Some(payload(*id, *v, *l)))],
        Step::Batch(es) => es
            .iter()
            .map(|(id, v, l)| (*id, Some(payload(*id, *v, *l))))
            .collect(),
        Step::Delete(id) => vec![(*id, None)],
        _ => vec![],
    }
}

fn apply(m: &mut Model, mu: &[(u64, Option<Vec<u8>>)]) {
    for (id, v) in mu {
        match v {
            Some(p) => m.insert(*id, p.clone()),
            None => m.remove(id),
        };
    }
}

/// What the failing call was doing when the fault hit, for the expected
/// outcome.
struct Failure {
    step: usize,
    op: Op,
    path: PathBuf,
}

/// Runs the workload with `arm` applied to a fresh `FaultVfs`; returns the
/// vfs's call counts when no fault is armed.
fn run_case(
    arm: &dyn Fn(&FaultVfs),
    fault: Option<FaultKind>,
    rollback_fails: bool,
    t: &mut Tally,
    ctx: &str,
) -> FaultVfs {
    let root = tmp();
    let dir = root.path().join("store");
    let vfs = FaultVfs::new();
    arm(&vfs);
    let o = opts();
    let mut m = Model::new();
    let mut store: Option<Store<FaultVfs>> = None;
    let mut failure: Option<(Failure, walstore::Error)> = None;
    for (i, step) in workload().iter().enumerate() {
        let before = vfs.injected();
        let mu = mutation(step);
        let r: walstore::Result<()> = match step {
            Step::Open => match Store::open_with_vfs(vfs.clone(), &dir, &o) {
                Ok(s) => {
                    if vfs.injected() > before {
                        // Absorbed: only a snapshot read may be.
                        let (op, path, _) = vfs.last_injected().unwrap();
                        assert!(
                            matches!(op, Op::Read | Op::Open),
                            "{ctx}: open absorbed a fault in {op:?}"
                        );
                        let name = path.file_name().unwrap().to_string_lossy().into_owned();
                        assert!(name.starts_with("snapshot-"), "{ctx}: {name}");
                        let rej = &s.open_report().snapshots_rejected;
                        assert_eq!(rej.len(), 1, "{ctx}: {rej:?}");
                        assert!(rej[0].contains(&name), "{ctx}: {rej:?}");
                        assert_eq!(s.open_report().snapshot_used, None, "{ctx}");
                        t.snapshot_read_rejected += 1;
                    }
                    store = Some(s);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Step::Tear => {
                let mut f = fs::OpenOptions::new()
                    .append(true)
                    .open(current_log(&dir))
                    .unwrap();
                f.write_all(&[0xA5; 20]).unwrap();
                Ok(())
            }
            Step::Close => store.take().unwrap().close(),
            Step::Sync => store.as_ref().unwrap().sync(),
            Step::Snapshot => store.as_ref().unwrap().snapshot().map(drop),
            Step::Compact => match store.as_ref().unwrap().compact() {
                Ok(r) => {
                    if vfs.injected() > before {
                        // Absorbed by design: removing the replaced
                        // generation failed; the next open removes it.
                        let (op, path, _) = vfs.last_injected().unwrap();
                        let err = r.cleanup_error.clone().unwrap_or_else(|| {
                            panic!("{ctx}: compact absorbed {op:?} on {path:?} silently")
                        });
                        assert!(
                            matches!(op, Op::Remove | Op::SyncDir | Op::ListDir),
                            "{ctx}: compact absorbed {op:?}: {err}"
                        );
                        assert!(err.contains(&path.display().to_string()), "{ctx}: {err}");
                        t.compact_cleanup_reported += 1;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Step::Read(id) => {
                let s = store.as_ref().unwrap();
                match s.retrieve(*id) {
                    Ok(p) => {
                        assert_eq!(Some(&p), m.get(id), "{ctx}: read {id}");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Step::Store(id, ..) => {
                let p = &mu[0].1.as_ref().unwrap()[..];
                store.as_ref().unwrap().store(*id, p)
            }
            Step::Batch(_) => {
                let refs: Vec<(u64, &[u8])> = mu
                    .iter()
                    .map(|(id, p)| (*id, &p.as_ref().unwrap()[..]))
                    .collect();
                store.as_ref().unwrap().store_batch(&refs)
            }
            Step::Delete(id) => store.as_ref().unwrap().delete(*id),
        };
        match r {
            Ok(()) => {
                apply(&mut m, &mu);
                let by_design = matches!(step, Step::Open | Step::Compact)
                    || matches!(vfs.last_injected(), Some((Op::Allocate, ..)))
                    || matches!(
                        (step, vfs.last_injected()),
                        (Step::Close, Some((Op::SetLen, ..)))
                    );
                if vfs.injected() > before && !by_design {
                    panic!(
                        "{ctx}: step {i} {step:?} absorbed {:?}",
                        vfs.last_injected()
                    );
                }
            }
            Err(e) => {
                assert!(
                    vfs.injected() > before,
                    "{ctx}: step {i} {step:?} failed without a fault: {e}"
                );
                let (op, path, _) = vfs.last_injected().unwrap();
                failure = Some((Failure { step: i, op, path }, e));
                break;
            }
        }
    }
    t.runs += 1;
    let Some((f, e)) = failure else {
        assert!(store.is_none());
        if fault.is_some() && vfs.injected() == 0 {
            t.not_reached += 1;
        }
        // No fault reached the caller: a clean reopen finds everything.
        vfs.clear();
        let s = Store::open(&dir, &o).unwrap();
        check(&s, &m, ctx);
        s.close().unwrap();
        return vfs;
    };
    let fault = fault.expect("a fault was armed");
    let steps = workload();
    let step = &steps[f.step];
    let ctx = format!(
        "{ctx}: step {} {step:?}, {:?} on {}",
        f.step,
        f.op,
        f.path.display()
    );
    let msg = e.to_string();
    let is_log = is_log_path(&f.path);
    let is_write_step = !mutation(step).is_empty();
    let rollback_failed = rollback_fails && is_write_step && f.op == Op::SetLen && is_log;
    if rollback_failed {
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{ctx}: {e}");
        assert!(msg.contains("truncate"), "{ctx}: {msg}");
    } else {
        assert_eq!(e.kind(), expected_kind(fault), "{ctx}: {e}");
    }
    assert!(
        msg.contains(&f.path.display().to_string()),
        "{ctx}: message does not name the file: {msg}"
    );
    // A failed fdatasync of the log's records: they were written and are in
    // the file, though never acknowledged.
    let inflight = is_write_step && matches!(f.op, Op::SyncData) && is_log;
    // A failed fsync of the log, a failed rollback, or a failed directory
    // fsync after a compaction's rename (the switch can no longer be
    // vouched for) poisons the handle.
    let poisoned_expected = store.is_some()
        && (rollback_failed
            || (matches!(f.op, Op::SyncData | Op::SyncAll) && is_log)
            || (matches!(step, Step::Compact) && f.op == Op::SyncDir));
    match &store {
        None => {
            if matches!(step, Step::Open) {
                t.failed_open += 1;
            } else {
                t.failed_other_call += 1; // a close
            }
        }
        Some(s) => {
            if is_write_step {
                t.failed_write_call += 1;
            } else {
                t.failed_other_call += 1;
            }
            // Nothing of the failed call is visible; reads work.
            vfs.clear();
            check(s, &m, &ctx);
            let r = s.store(15, b"after");
            if poisoned_expected {
                let e2 = r.unwrap_err();
                assert_eq!(e2.kind(), ErrorKind::Poisoned, "{ctx}: {e2}");
                assert!(e2.to_string().contains("close and reopen"), "{ctx}");
                t.poisoned += 1;
                check(s, &m, &ctx);
            } else {
                r.unwrap_or_else(|e2| panic!("{ctx}: the handle should take writes: {e2}"));
                m.insert(15, b"after".to_vec());
                t.usable_after += 1;
                check(s, &m, &ctx);
            }
        }
    }
    if let Some(s) = store.take() {
        let r = s.close();
        if poisoned_expected {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Poisoned, "{ctx}");
        } else {
            r.unwrap();
        }
    }
    if inflight {
        apply(&mut m, &mutation(step));
        t.inflight_present += 1;
    }
    vfs.clear();
    // Reopen with the faults gone: exactly the acknowledged state, and it
    // takes writes.
    let s = Store::open_with_vfs(vfs.clone(), &dir, &o)
        .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    check(&s, &m, &ctx);
    s.store(14, b"recovered").unwrap();
    s.close().unwrap();
    let s = Store::open(&dir, &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None, "{ctx}");
    m.insert(14, b"recovered".to_vec());
    check(&s, &m, &ctx);
    s.close().unwrap();
    vfs
}

#[test]
fn fault_at_every_call_of_every_kind() {
    let started = Instant::now();
    let mut t = Tally::default();
    let clean = run_case(&|_| {}, None, false, &mut t, "no fault");
    let counts: Vec<(Op, u64)> = KINDS.iter().map(|k| (*k, clean.count(*k))).collect();
    eprintln!("[fault_sweep] the workload's calls: {counts:?}");
    for (op, n) in &counts {
        assert!(*n > 0 || *op == Op::CreateDir, "{op:?} never called");
        let faults: &[FaultKind] = if *op == Op::Write {
            &[EIO, ENOSPC, SHORT]
        } else {
            &[EIO, ENOSPC]
        };
        for fault in faults {
            for nth in 1..=*n {
                let ctx = format!("{op:?} #{nth} {fault:?}");
                let (op, fault) = (*op, *fault);
                let vfs = run_case(
                    &move |v| v.fail_nth(op, nth, fault),
                    Some(fault),
                    false,
                    &mut t,
                    &ctx,
                );
                assert_eq!(vfs.injected(), 1, "{ctx}");
                *t.by_kind.entry(format!("{op:?}")).or_default() += 1;
            }
        }
    }
    // The write fails and so does the truncate that rolls it back.
    let writes = clean.count(Op::Write);
    for nth in 1..=writes {
        let ctx = format!("Write #{nth} EIO + rollback EIO");
        let vfs = run_case(
            &move |v| {
                v.fail_nth(Op::Write, nth, EIO);
                v.fail_next_after_fault(Op::SetLen, EIO);
            },
            Some(EIO),
            true,
            &mut t,
            &ctx,
        );
        assert!(vfs.injected() >= 1, "{ctx}");
    }
    eprintln!(
        "[fault_sweep] {} runs ({:?} per kind); the failing call: {} opens, {} writes, {} other \
         calls (sync, snapshot, read, close); after a failed write/sync: {} handles poisoned, {} \
         took the next write; {} failed fdatasyncs whose records were in the file at reopen; {} \
         snapshot opens/reads failed at open and were rejected (open replayed the log); {} \
         compaction cleanup failures reported in CompactReport::cleanup_error; took {:?}",
        t.runs,
        t.by_kind,
        t.failed_open,
        t.failed_write_call,
        t.failed_other_call,
        t.poisoned,
        t.usable_after,
        t.inflight_present,
        t.snapshot_read_rejected,
        t.compact_cleanup_reported,
        started.elapsed()
    );
}
