//! Fault injection through `FaultVfs`: failed writes (rolled back), failed
//! rollbacks, failed fdatasyncs, failed buffer flushes and failed opens. Every
//! case asserts the exact error kind, the exact file length, exactly what is
//! visible, and exactly what a reopen finds.
//!
//! The file system of most cases cannot allocate ahead
//! (`FaultVfs::without_allocation`), so a log's file ends where its records
//! do and every length is exact. The failed writes and failed rollbacks run
//! both without and with allocation, and the cases at the end with it: the
//! file then grows a step ahead of its records.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use walstore::format::RECORD_HEADER_LEN;
use walstore::vfs::{FaultKind, FaultVfs, Op, Vfs};
use walstore::{Durability, ErrorKind, Options, Store, TornTail};
mod common;
use common::{payload, tail_end, tmp};

const LOG_NAME: &str = "wal-0000000000000001.log";
const HDR: u64 = RECORD_HEADER_LEN as u64;
const EIO: FaultKind = FaultKind::Errno(libc::EIO);
const ENOSPC: FaultKind = FaultKind::Errno(libc::ENOSPC);
const SHORT_ENOSPC: FaultKind = FaultKind::ShortWrite(libc::ENOSPC);
const SHORT_EIO: FaultKind = FaultKind::ShortWrite(libc::EIO);

static TOTAL_INJECTED: AtomicU64 = AtomicU64::new(0);

type Model = BTreeMap<u64, Vec<u8>>;

fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_NAME)
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

/// Adds the faults this vfs injected to the total and prints both.
fn account(test: &str, vfs: &FaultVfs) {
    report_injected(test, vfs.injected());
}

fn report_injected(test: &str, n: u64) {
    let total = TOTAL_INJECTED.fetch_add(n, Ordering::SeqCst) + n;
    eprintln!("[faults] {test}: {n} faults injected (running total over all tests: {total})");
}

fn opts(d: Durability) -> Options {
    let mut o = Options::new();
    o.set_durability(d);
    o
}

/// Every id of the model reads back exactly (retrieve, retrieve_into,
/// payload_len); every id of `absent` is NotFound; nothing else is live.
fn check_model<V: Vfs>(s: &Store<V>, model: &Model, absent: &[u64]) {
    for (id, want) in model {
        let got = s
            .retrieve(*id)
            .unwrap_or_else(|e| panic!("retrieve({id}): {e}"));
        assert_eq!(&got, want, "payload of id {id}");
        assert_eq!(s.payload_len(*id).unwrap(), want.len(), "len of id {id}");
        let mut buf = vec![0u8; want.len() + 3];
        assert_eq!(s.retrieve_into(*id, &mut buf).unwrap(), want.len());
        assert_eq!(&buf[..want.len()], &want[..]);
    }
    for id in absent {
        assert!(!model.contains_key(id));
        let e = s.retrieve(*id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "id {id} must be absent: {e}");
        assert_eq!(s.payload_len(*id).unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert_eq!(s.len(), model.len(), "number of live ids");
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn cut_files(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|n| n.contains(".cut-"))
        .collect()
}

/// Acknowledged state every write-fault case starts from: ids 1..=5 live
/// (id 2 overwritten), id 6 deleted, ids 7 and 8 from a batch.
fn seed<V: Vfs>(s: &Store<V>) -> Model {
    let mut m = Model::new();
    for id in 1..=6u64 {
        let p = payload(id, 0, 40 + id as usize * 13);
        s.store(id, &p).unwrap();
        m.insert(id, p);
    }
    let p = payload(2, 1, 77);
    s.store(2, &p).unwrap();
    m.insert(2, p);
    s.delete(6).unwrap();
    m.remove(&6);
    let (p7, p8) = (payload(7, 0, 1), payload(8, 0, 0));
    s.store_batch(&[(7, &p7), (8, &p8)]).unwrap();
    m.insert(7, p7);
    m.insert(8, p8);
    m
}

#[derive(Debug, Clone, Copy)]
enum WriteOp {
    Store,
    Batch,
    Delete,
}

const ALL_OPS: [WriteOp; 3] = [WriteOp::Store, WriteOp::Batch, WriteOp::Delete];

/// Runs `op` (which overwrites id 1, batches ids 2/100/101, or deletes id 3)
/// and, on success, applies it to the model. Returns the bytes it appends.
fn run_op<V: Vfs>(s: &Store<V>, op: WriteOp, m: Option<&mut Model>) -> walstore::Result<u64> {
    match op {
        WriteOp::Store => {
            let p = payload(1, 99, 300);
            s.store(1, &p)?;
            if let Some(m) = m {
                m.insert(1, p);
            }
            Ok(HDR + 300)
        }
        WriteOp::Batch => {
            let (a, b, c) = (payload(2, 99, 50), payload(100, 0, 120), payload(101, 0, 9));
            s.store_batch(&[(2, &a), (100, &b), (101, &c)])?;
            if let Some(m) = m {
                m.insert(2, a);
                m.insert(100, b);
                m.insert(101, c);
            }
            Ok(5 * HDR + 50 + 120 + 9)
        }
        WriteOp::Delete => {
            s.delete(3)?;
            if let Some(m) = m {
                m.remove(&3);
            }
            Ok(HDR)
        }
    }
}

/// The bytes `op` appends (what `run_op` returns on success).
fn op_bytes(op: WriteOp) -> u64 {
    match op {
        WriteOp::Store => HDR + 300,
        WriteOp::Batch => 5 * HDR + 50 + 120 + 9,
        WriteOp::Delete => HDR,
    }
}

fn expected_kind(f: FaultKind) -> ErrorKind {
    match f {
        FaultKind::Errno(e) | FaultKind::ShortWrite(e) if e == libc::ENOSPC => ErrorKind::NoSpace,
        _ => ErrorKind::Io,
    }
}

/// With `allocate`, the file system allocates ahead as the real one does:
/// the file then runs a step ahead of the records while the store is open,
/// and the rollback's truncate takes that space away too.
fn write_fault_case(d: Durability, fault: FaultKind, op: WriteOp, allocate: bool) -> u64 {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = if allocate {
        FaultVfs::new()
    } else {
        FaultVfs::new().without_allocation()
    };
    // While open, the file ends where its records do, or a step ahead.
    let open_len = |end: u64| if allocate { STEP } else { end };
    let o = opts(d);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let mut m = seed(&s);
    let absent = [6u64, 100, 101, 200, 201];
    check_model(&s, &m, &absent);

    let before = s.log_position();
    assert_eq!(file_len(&log), open_len(before));
    let injected = vfs.injected();
    let (writes, set_lens) = (vfs.count(Op::Write), vfs.count(Op::SetLen));
    vfs.fail_nth(Op::Write, 1, fault);
    let err = run_op(&s, op, None).unwrap_err();
    let ctx = format!("{d:?} {fault:?} {op:?}: {err}");
    assert_eq!(vfs.injected(), injected + 1, "{ctx}");
    assert_eq!(err.kind(), expected_kind(fault), "{ctx}");
    let msg = err.to_string();
    assert!(msg.contains(&log.display().to_string()), "{ctx}");
    assert!(msg.contains(&format!("at offset {before}")), "{ctx}");
    // One write call is counted (FaultVfs does not count the call that
    // completes a short write: it fails before the counter).
    assert_eq!(vfs.count(Op::Write), writes + 1, "{ctx}");
    assert_eq!(vfs.count(Op::SetLen), set_lens + 1, "rollback: {ctx}");
    assert_eq!(file_len(&log), before, "rolled back: {ctx}");
    assert_eq!(s.log_position(), before, "{ctx}");
    // Nothing of the failed call is visible: id 1 and 2 keep their old
    // payload, 100/101 do not exist, id 3 is still there.
    check_model(&s, &m, &absent);

    // The handle stays usable: store, read, delete, and the failed op itself.
    let p = payload(200, 0, 64);
    s.store(200, &p).unwrap();
    assert_eq!(s.retrieve(200).unwrap(), p);
    m.insert(200, p);
    s.delete(4).unwrap();
    m.remove(&4);
    assert_eq!(s.retrieve(4).unwrap_err().kind(), ErrorKind::NotFound);
    let at = s.log_position();
    assert_eq!(run_op(&s, op, Some(&mut m)).unwrap(), op_bytes(op));
    assert_eq!(s.log_position(), at + op_bytes(op));
    s.sync().unwrap();
    check_model(&s, &m, &[4, 6, 201]);
    let end = s.log_position();
    assert_eq!(file_len(&log), open_len(end));
    s.close().unwrap();
    assert_eq!(file_len(&log), end, "a close gives the space ahead back");

    // Reopen with the plain file system: exactly the acknowledged state.
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None, "{ctx}");
    assert_eq!(s.log_position(), end);
    check_model(&s, &m, &[4, 6, 201]);
    s.close().unwrap();
    // And with a fresh FaultVfs.
    let v2 = FaultVfs::new().without_allocation();
    let s = Store::open_with_vfs(v2.clone(), dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    check_model(&s, &m, &[4, 6, 201]);
    s.close().unwrap();
    assert_eq!(v2.injected(), 0);
    assert_eq!(file_len(&log), end);
    assert_eq!(
        dir_names(dir.path()),
        vec!["LOCK".to_owned(), LOG_NAME.into()]
    );
    vfs.injected()
}

fn write_fault_all_ops(name: &str, d: Durability, fault: FaultKind) {
    let mut n = 0;
    for allocate in [false, true] {
        for op in ALL_OPS {
            n += write_fault_case(d, fault, op, allocate);
        }
    }
    assert_eq!(n, 6);
    report_injected(name, n);
}

#[test]
fn failed_write_eio_fsync() {
    write_fault_all_ops("failed_write_eio_fsync", Durability::Fsync, EIO);
}

#[test]
fn failed_write_enospc_fsync() {
    write_fault_all_ops("failed_write_enospc_fsync", Durability::Fsync, ENOSPC);
}

#[test]
fn failed_short_write_enospc_fsync() {
    write_fault_all_ops(
        "failed_short_write_enospc_fsync",
        Durability::Fsync,
        SHORT_ENOSPC,
    );
}

#[test]
fn failed_write_eio_flush() {
    write_fault_all_ops("failed_write_eio_flush", Durability::Flush, EIO);
}

#[test]
fn failed_write_enospc_flush() {
    write_fault_all_ops("failed_write_enospc_flush", Durability::Flush, ENOSPC);
}

#[test]
fn failed_short_write_enospc_flush() {
    write_fault_all_ops(
        "failed_short_write_enospc_flush",
        Durability::Flush,
        SHORT_ENOSPC,
    );
}

/// A disk that stays full: every store fails with NoSpace and is rolled back.
/// A delete writes a tombstone, so it fails the same way while nothing at all
/// can be written; once any space comes back, a delete (to free space) and
/// then a store work, and nothing acknowledged was lost.
#[test]
fn disk_full_for_a_while_then_space_returns() {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = FaultVfs::new().without_allocation();
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &opts(Durability::Fsync)).unwrap();
    let mut m = seed(&s);
    let before = file_len(&log);
    vfs.fail_always(Op::Write, SHORT_ENOSPC, Some(LOG_NAME));
    for i in 0..10u64 {
        let e = s.store(300 + i, &payload(300 + i, 0, 500)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoSpace);
        let e = s.delete(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoSpace);
        assert_eq!(file_len(&log), before);
    }
    check_model(&s, &m, &[300, 309]);
    vfs.clear();
    // Space is back: a delete frees the space, a store works.
    s.delete(1).unwrap();
    m.remove(&1);
    let p = payload(300, 1, 500);
    s.store(300, &p).unwrap();
    m.insert(300, p);
    check_model(&s, &m, &[1, 309]);
    s.close().unwrap();
    let s = Store::open(dir.path(), &opts(Durability::Fsync)).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    check_model(&s, &m, &[1, 309]);
    s.close().unwrap();
    assert_eq!(vfs.injected(), 20);
    account("disk_full_for_a_while_then_space_returns", &vfs);
}

/// The write fails and so does the truncate that would roll it back. With
/// `allocate`, the file system allocates ahead: the file stays a step long,
/// and the half written lies before zeros. A reopen cuts what `tail_end`
/// says (the whole record of an intact header, zeros included), never the
/// free space after it; with nothing written, the zeros are free space.
fn rollback_failure_case(d: Durability, fault: FaultKind, op: WriteOp, allocate: bool) -> u64 {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = if allocate {
        FaultVfs::new()
    } else {
        FaultVfs::new().without_allocation()
    };
    let o = opts(d);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let m = seed(&s);
    let before = s.log_position();
    let open_len = |end: u64| if allocate { STEP } else { end };
    assert_eq!(file_len(&log), open_len(before));
    let original = fs::read(&log).unwrap()[..before as usize].to_vec();
    vfs.fail_nth(Op::Write, 1, fault);
    vfs.fail_nth(Op::SetLen, 1, EIO);
    let err = run_op(&s, op, None).unwrap_err();
    let ctx = format!("{d:?} {fault:?} {op:?} allocate {allocate}: {err}");
    assert_eq!(vfs.injected(), 2, "{ctx}");
    assert_eq!(err.kind(), ErrorKind::Poisoned, "{ctx}");
    let msg = err.to_string();
    assert!(msg.contains("reopen"), "{ctx}");
    assert!(msg.contains(&log.display().to_string()), "{ctx}");
    assert!(msg.contains(&format!("at offset {before}")), "{ctx}");
    assert!(msg.contains(&format!("truncate to {before}")), "{ctx}");
    // What the failed write left is still there: nothing, or half of it.
    let half = match fault {
        FaultKind::ShortWrite(_) => op_bytes(op) / 2,
        FaultKind::Errno(_) => 0,
    };
    let left = |ctx: &str| {
        let now = fs::read(&log).unwrap();
        assert_eq!(now.len() as u64, open_len(before + half), "{ctx}");
        assert_eq!(&now[..before as usize], &original[..], "{ctx}");
        let after = &now[(before + half) as usize..];
        assert!(after.iter().all(|&b| b == 0), "{ctx}: zeros after");
        now
    };
    left(&ctx);

    // Every later write and sync is refused; the file does not change.
    let writes = vfs.count(Op::Write);
    for e in [
        s.store(500, b"x").unwrap_err(),
        s.store_batch(&[(501, b"a"), (502, b"b")]).unwrap_err(),
        s.delete(5).unwrap_err(),
        s.sync().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{ctx}; later: {e}");
        assert!(e.to_string().contains("close and reopen"), "{e}");
    }
    assert_eq!(vfs.count(Op::Write), writes);
    // Reads keep working and show the acknowledged state only.
    check_model(&s, &m, &[6, 100, 101, 500, 501, 502]);
    let e = s.close().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned, "{ctx}");
    let crashed = left(&format!("{ctx}, closed"));

    // Reopen: a half-written record is a torn tail, saved and cut.
    let s = Store::open(dir.path(), &o).unwrap();
    let report = s.open_report().clone();
    if half == 0 {
        assert_eq!(report.torn_tail, None, "{ctx}");
        assert!(cut_files(dir.path()).is_empty());
        // The zeros of an allocated file are free space, and stay.
        assert_eq!(file_len(&log), open_len(before), "{ctx}");
    } else {
        // (Zeros that end the half written read as free space: the tail
        // may end before it does.)
        let end = tail_end(&crashed, before) as u64;
        assert!(end > before, "{ctx}");
        let tail = report.torn_tail.clone().expect("a torn tail");
        let saved = tail.saved_to.clone().expect("saved");
        assert_eq!(
            tail,
            TornTail {
                offset: before,
                bytes: end - before,
                saved_to: Some(saved.clone()),
            },
            "{ctx}"
        );
        assert_eq!(cut_files(dir.path()).len(), 1);
        let side = fs::read(&saved).unwrap();
        assert_eq!(side[..], crashed[before as usize..end as usize], "{ctx}");
        assert_eq!(file_len(&log), before, "{ctx}: cut, with the space ahead");
    }
    assert_eq!(fs::read(&log).unwrap()[..before as usize], original[..]);
    assert_eq!(s.log_position(), before);
    check_model(&s, &m, &[6, 100, 101, 500, 501, 502]);
    // The recovered store takes writes again.
    let mut m = m;
    assert_eq!(run_op(&s, op, Some(&mut m)).unwrap(), op_bytes(op));
    s.close().unwrap();
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    check_model(&s, &m, &[6, 500, 501, 502]);
    s.close().unwrap();
    vfs.injected()
}

fn rollback_failure_all(name: &str, d: Durability) {
    let mut n = 0;
    for allocate in [false, true] {
        for fault in [EIO, SHORT_EIO, SHORT_ENOSPC] {
            for op in ALL_OPS {
                n += rollback_failure_case(d, fault, op, allocate);
            }
        }
    }
    assert_eq!(n, 36);
    report_injected(name, n);
}

#[test]
fn rollback_failure_poisons_fsync() {
    rollback_failure_all("rollback_failure_poisons_fsync", Durability::Fsync);
}

#[test]
fn rollback_failure_poisons_flush() {
    rollback_failure_all("rollback_failure_poisons_flush", Durability::Flush);
}

fn failed_fdatasync_case(errno: i32, kind: ErrorKind) -> u64 {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = FaultVfs::new().without_allocation();
    let o = opts(Durability::Fsync);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let m = seed(&s);
    let before = file_len(&log);
    let syncs = vfs.count(Op::SyncData);
    vfs.fail_nth(Op::SyncData, 1, FaultKind::Errno(errno));
    let p10 = payload(10, 0, 333);
    let err = s.store(10, &p10).unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(vfs.count(Op::SyncData), syncs + 1);
    let msg = err.to_string();
    assert!(msg.contains("fdatasync"), "{msg}");
    assert!(msg.contains(&log.display().to_string()), "{msg}");
    // The bytes were written (the write itself succeeded), but the index was
    // not updated: the write is not acknowledged.
    assert_eq!(file_len(&log), before + HDR + 333);
    assert_eq!(s.retrieve(10).unwrap_err().kind(), ErrorKind::NotFound);

    let writes = vfs.count(Op::Write);
    for e in [
        s.store(11, b"eleven").unwrap_err(),
        s.delete(1).unwrap_err(),
        s.store_batch(&[(12, b"a"), (13, b"b")]).unwrap_err(),
        s.sync().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
        let t = e.to_string();
        assert!(t.contains("close and reopen"), "{t}");
        assert!(t.contains("fdatasync"), "the cause is named: {t}");
    }
    assert_eq!(vfs.count(Op::Write), writes);
    assert_eq!(vfs.count(Op::SyncData), syncs + 1, "no further fdatasync");
    check_model(&s, &m, &[6, 10, 11, 12, 13]);
    let e = s.close().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");

    // The lock is released; reopening replays the disk, where the bytes of
    // id 10 are (they reached the page cache).
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    let mut m = m;
    m.insert(10, p10);
    check_model(&s, &m, &[6, 11, 12, 13]);
    s.store(11, b"eleven").unwrap();
    assert_eq!(s.retrieve(11).unwrap(), b"eleven");
    s.close().unwrap();
    vfs.injected()
}

#[test]
fn failed_fdatasync_poisons_fsync_store() {
    let n = failed_fdatasync_case(libc::EIO, ErrorKind::Io);
    assert_eq!(n, 1);
    report_injected("failed_fdatasync_poisons_fsync_store", n);
}

#[test]
fn failed_fdatasync_enospc_is_no_space() {
    let n = failed_fdatasync_case(libc::ENOSPC, ErrorKind::NoSpace);
    assert_eq!(n, 1);
    report_injected("failed_fdatasync_enospc_is_no_space", n);
}

/// Many writers meet the one failing fdatasync: each gets Io (its bytes were
/// written and it waited on the failed sync) or Poisoned (it came later and
/// wrote nothing). No one gets Ok, there is exactly one fdatasync, and a
/// reopen finds exactly the ids whose writers got Io.
#[test]
fn failed_fdatasync_with_concurrent_writers() {
    const THREADS: u64 = 8;
    let dir = tmp();
    let vfs = FaultVfs::new().without_allocation();
    let o = opts(Durability::Fsync);
    let s = Arc::new(Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap());
    let m = seed(&*s);
    let syncs = vfs.count(Op::SyncData);
    vfs.fail_nth(Op::SyncData, 1, EIO);
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let results = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, barrier, results) = (s.clone(), barrier.clone(), results.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let id = 1000 + t;
                let kind = s.store(id, &payload(id, 0, 1000)).unwrap_err().kind();
                results.lock().unwrap().push((id, kind));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(vfs.count(Op::SyncData), syncs + 1, "exactly one fdatasync");
    let results = results.lock().unwrap().clone();
    let io: Vec<u64> = results
        .iter()
        .filter(|r| r.1 == ErrorKind::Io)
        .map(|r| r.0)
        .collect();
    let poisoned = results
        .iter()
        .filter(|r| r.1 == ErrorKind::Poisoned)
        .count();
    eprintln!(
        "[faults] concurrent writers at a failed fdatasync: {} Io, {poisoned} Poisoned",
        io.len()
    );
    assert!(!io.is_empty());
    assert_eq!(io.len() + poisoned, THREADS as usize, "{results:?}");
    let all: Vec<u64> = (1000..1000 + THREADS).collect();
    check_model(&*s, &m, &all);
    let s = Arc::try_unwrap(s).unwrap();
    assert_eq!(s.close().unwrap_err().kind(), ErrorKind::Poisoned);

    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    let mut m = m;
    for id in &io {
        m.insert(*id, payload(*id, 0, 1000));
    }
    let missing: Vec<u64> = all.into_iter().filter(|id| !io.contains(id)).collect();
    check_model(&s, &m, &missing);
    s.close().unwrap();
    account("failed_fdatasync_with_concurrent_writers", &vfs);
}

#[test]
fn failed_fdatasync_under_flush_via_sync() {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = FaultVfs::new().without_allocation();
    let o = opts(Durability::Flush);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let m = seed(&s);
    let syncs = vfs.count(Op::SyncData);
    assert_eq!(
        syncs, 1,
        "Flush writes do not fdatasync (only the open does)"
    );
    vfs.fail_nth(Op::SyncData, 1, EIO);
    let e = s.sync().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("fdatasync"), "{e}");
    assert!(e.to_string().contains(&log.display().to_string()), "{e}");
    for e in [
        s.store(20, b"twenty").unwrap_err(),
        s.delete(1).unwrap_err(),
        s.store_batch(&[(21, b"a"), (22, b"b")]).unwrap_err(),
        s.sync().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
        assert!(e.to_string().contains("close and reopen"), "{e}");
    }
    assert_eq!(vfs.count(Op::SyncData), syncs + 1);
    check_model(&s, &m, &[6, 20, 21, 22]);
    let end = s.log_position();
    assert_eq!(file_len(&log), end);
    assert_eq!(s.close().unwrap_err().kind(), ErrorKind::Poisoned);
    // Flush writes reached the file before the sync failed: all are there.
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.log_position(), end);
    check_model(&s, &m, &[6, 20, 21, 22]);
    s.close().unwrap();
    assert_eq!(vfs.injected(), 1);
    account("failed_fdatasync_under_flush_via_sync", &vfs);
}

/// Durability::None with a 64-byte buffer: a 16-byte payload makes a 48-byte
/// record, so the second one forces a flush of the first.
fn none_flush_failure_case(fault: FaultKind) -> u64 {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = FaultVfs::new().without_allocation();
    let mut o = opts(Durability::None);
    o.set_write_buffer(64).unwrap();
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let p1 = payload(1, 0, 16);
    s.store(1, &p1).unwrap();
    s.sync().unwrap();
    let flushed = file_len(&log);
    assert_eq!(flushed, 64 + HDR + 16);
    let p2 = payload(2, 0, 16);
    s.store(2, &p2).unwrap();
    // Buffered: not in the file yet, but readable.
    assert_eq!(file_len(&log), flushed);
    assert_eq!(s.log_position(), flushed + HDR + 16);
    assert_eq!(s.retrieve(2).unwrap(), p2);
    assert_eq!(s.retrieve(1).unwrap(), p1);

    vfs.fail_nth(Op::Write, 1, fault);
    let e = s.store(3, &payload(3, 0, 16)).unwrap_err();
    assert_eq!(e.kind(), expected_kind(fault), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("flush"), "{msg}");
    assert!(msg.contains(&log.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("at offset {flushed}")), "{msg}");
    let half = match fault {
        FaultKind::ShortWrite(_) => (HDR + 16) / 2,
        FaultKind::Errno(_) => 0,
    };
    assert_eq!(file_len(&log), flushed + half);
    for e in [
        s.store(4, b"four").unwrap_err(),
        s.delete(1).unwrap_err(),
        s.store_batch(&[(5, b"a"), (6, b"b")]).unwrap_err(),
        s.sync().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
        assert!(e.to_string().contains("close and reopen"), "{e}");
    }
    // Reads still work, the buffered record included.
    let mut m = Model::new();
    m.insert(1, p1.clone());
    m.insert(2, p2);
    check_model(&s, &m, &[3, 4, 5, 6]);
    assert_eq!(s.close().unwrap_err().kind(), ErrorKind::Poisoned);
    assert_eq!(file_len(&log), flushed + half, "close writes nothing");

    // Reopen: id 1 (synced) is there; id 2 never reached the file (or only
    // half of it, which is cut as a torn tail).
    let s = Store::open(dir.path(), &o).unwrap();
    if half == 0 {
        assert_eq!(s.open_report().torn_tail, None);
    } else {
        let t = s.open_report().torn_tail.clone().unwrap();
        assert_eq!((t.offset, t.bytes), (flushed, half));
        assert_eq!(
            fs::read(t.saved_to.unwrap()).unwrap().len() as u64,
            half,
            "side file holds the cut bytes"
        );
    }
    assert_eq!(file_len(&log), flushed);
    let mut m = Model::new();
    m.insert(1, p1);
    check_model(&s, &m, &[2, 3, 4, 5, 6]);
    s.close().unwrap();
    vfs.injected()
}

#[test]
fn none_durability_failed_buffer_flush_poisons() {
    let mut n = 0;
    for fault in [EIO, ENOSPC, SHORT_EIO] {
        n += none_flush_failure_case(fault);
    }
    assert_eq!(n, 3);
    report_injected("none_durability_failed_buffer_flush_poisons", n);
}

/// A store whose last record lost its final 10 bytes. Returns the log bytes,
/// the tail offset and the tail length.
fn make_torn_store(dir: &Path) -> (Model, Vec<u8>, u64, u64) {
    let s = Store::open(dir, &Options::new()).unwrap();
    let mut m = Model::new();
    for id in 1..=2u64 {
        let p = payload(id, 0, 100);
        s.store(id, &p).unwrap();
        m.insert(id, p);
    }
    let off = s.log_position();
    s.store(3, &payload(3, 0, 100)).unwrap();
    s.close().unwrap();
    let log = log_path(dir);
    let f = fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(off + HDR + 100 - 10).unwrap();
    drop(f);
    (m, fs::read(&log).unwrap(), off, HDR + 100 - 10)
}

#[test]
fn open_time_tail_save_failures_leave_log_untouched() {
    let dir = tmp();
    let log = log_path(dir.path());
    let (m, bytes, off, tail) = make_torn_store(dir.path());
    let o = Options::new();
    let vfs = FaultVfs::new().without_allocation();

    type Inject = fn(&FaultVfs);
    let cases: [(&str, Inject, &str); 4] = [
        (
            "side-file write",
            |v| v.fail_always(Op::Write, EIO, Some(".cut-")),
            "write",
        ),
        (
            "side-file fsync",
            |v| v.fail_always(Op::SyncAll, EIO, Some(".cut-")),
            "fsync",
        ),
        (
            "directory fsync",
            |v| v.fail_nth(Op::SyncDir, 1, EIO),
            "fsync directory",
        ),
        (
            "log truncate",
            |v| v.fail_always(Op::SetLen, EIO, Some(LOG_NAME)),
            "truncate",
        ),
    ];
    for (what, inject, word) in cases {
        let injected = vfs.injected();
        inject(&vfs);
        let e = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap_err();
        vfs.clear();
        assert_eq!(vfs.injected(), injected + 1, "{what}");
        assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
        assert!(e.to_string().starts_with(word), "{what}: {e}");
        assert_eq!(fs::read(&log).unwrap(), bytes, "{what}: log untouched");
    }
    let side_files_before = cut_files(dir.path());
    assert!(
        side_files_before.is_empty(),
        "a failed save leaves no side file: {side_files_before:?}"
    );

    // A normal open saves and cuts the tail.
    let sync_dirs = vfs.count(Op::SyncDir);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    // One for the side file's name, one that every writable open makes.
    assert_eq!(vfs.count(Op::SyncDir), sync_dirs + 2);
    let t = s.open_report().torn_tail.clone().unwrap();
    let saved = t.saved_to.clone().unwrap();
    assert_eq!(
        t,
        TornTail {
            offset: off,
            bytes: tail,
            saved_to: Some(saved.clone()),
        }
    );
    let name = saved.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{LOG_NAME}.cut-")), "{name}");
    assert!(!side_files_before.contains(&name));
    assert_eq!(fs::read(&saved).unwrap(), &bytes[off as usize..]);
    assert_eq!(fs::read(&log).unwrap(), &bytes[..off as usize]);
    check_model(&s, &m, &[3]);
    s.store(3, b"three").unwrap();
    s.close().unwrap();
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    let mut m = m;
    m.insert(3, b"three".to_vec());
    check_model(&s, &m, &[]);
    s.close().unwrap();
    account("open_time_tail_save_failures_leave_log_untouched", &vfs);
}

#[test]
fn open_time_faults() {
    let root = tmp();
    let vfs = FaultVfs::new().without_allocation();
    let o = Options::new();

    // Lock.
    let dir = root.path().join("a");
    Store::open(&dir, &o).unwrap().close().unwrap();
    vfs.fail_nth(Op::Lock, 1, EIO);
    let e = Store::open_with_vfs(vfs.clone(), &dir, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().starts_with("flock"), "{e}");
    assert!(e.to_string().contains("LOCK"), "{e}");
    // The failed open released what it took.
    Store::open_with_vfs(vfs.clone(), &dir, &o)
        .unwrap()
        .close()
        .unwrap();

    // Creating a missing directory.
    let missing = root.path().join("b").join("c");
    vfs.fail_nth(Op::CreateDir, 1, EIO);
    let e = Store::open_with_vfs(vfs.clone(), &missing, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().starts_with("create directory"), "{e}");
    assert!(!missing.exists());
    // ... and fsyncing its parent.
    vfs.fail_nth(Op::SyncDir, 1, ENOSPC);
    let e = Store::open_with_vfs(vfs.clone(), &missing, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
    assert!(e.to_string().starts_with("fsync directory"), "{e}");

    // Opening the existing log.
    vfs.fail_always(Op::Open, EIO, Some(LOG_NAME));
    let e = Store::open_with_vfs(vfs.clone(), &dir, &o).unwrap_err();
    vfs.clear();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().starts_with("open"), "{e}");
    assert!(e.to_string().contains(LOG_NAME), "{e}");

    // Creating the first log.
    let fresh = root.path().join("d");
    vfs.fail_always(Op::Open, ENOSPC, Some(LOG_NAME));
    let e = Store::open_with_vfs(vfs.clone(), &fresh, &o).unwrap_err();
    vfs.clear();
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
    assert!(e.to_string().starts_with("create"), "{e}");
    assert_eq!(dir_names(&fresh), vec!["LOCK".to_owned()]);

    // Listing the directory.
    vfs.fail_nth(Op::ListDir, 1, EIO);
    let e = Store::open_with_vfs(vfs.clone(), &dir, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().starts_with("list"), "{e}");

    // The fdatasync that makes the replayed log durable.
    vfs.fail_nth(Op::SyncData, 1, EIO);
    let e = Store::open_with_vfs(vfs.clone(), &dir, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().starts_with("fdatasync"), "{e}");

    // Reading the log during replay.
    vfs.fail_always(Op::Read, EIO, Some(LOG_NAME));
    let e = Store::open_with_vfs(vfs.clone(), &dir, &o).unwrap_err();
    vfs.clear();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");

    assert_eq!(vfs.injected(), 8);
    // After all that, every store opens normally.
    for d in [&dir, &missing, &fresh] {
        let s = Store::open_with_vfs(vfs.clone(), d, &o).unwrap();
        assert_eq!(s.open_report().torn_tail, None);
        s.store(1, b"one").unwrap();
        assert_eq!(s.retrieve(1).unwrap(), b"one");
        s.close().unwrap();
    }
    assert_eq!(vfs.injected(), 8);
    account("open_time_faults", &vfs);
}

/// Reads through a failing file system report Io and change nothing.
#[test]
fn failed_read_is_io_and_harmless() {
    let dir = tmp();
    let vfs = FaultVfs::new().without_allocation();
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &opts(Durability::Fsync)).unwrap();
    let m = seed(&s);
    let log = log_path(dir.path());
    vfs.fail_nth(Op::Read, 1, EIO);
    let e = s.retrieve(1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains(&log.display().to_string()), "{e}");
    assert!(e.to_string().contains("at offset 64"), "{e}");
    check_model(&s, &m, &[6]);
    s.store(9, b"nine").unwrap();
    s.close().unwrap();
    assert_eq!(vfs.injected(), 1);
    account("failed_read_is_io_and_harmless", &vfs);
}

// ---------------------------------------------------------------------------
// With allocation: the log's file runs a step (1 MiB) ahead of its records.

const STEP: u64 = 1 << 20;

/// A write into allocated space that fails is rolled back like any other:
/// the truncate to where it began also drops the space ahead, and the next
/// write allocates again.
#[test]
fn failed_write_into_allocated_space_is_rolled_back() {
    for (d, fault) in [(Durability::Fsync, EIO), (Durability::Flush, SHORT_ENOSPC)] {
        let dir = tmp();
        let log = log_path(dir.path());
        let vfs = FaultVfs::new();
        let s = Store::open_with_vfs(vfs.clone(), dir.path(), &opts(d)).unwrap();
        let mut m = seed(&s);
        let before = s.log_position();
        assert_eq!(file_len(&log), STEP, "{d:?}: one step allocated");
        assert_eq!(vfs.count(Op::Allocate), 1);
        vfs.fail_nth(Op::Write, 1, fault);
        let e = s.store(100, b"lost").unwrap_err();
        assert_eq!(e.kind(), expected_kind(fault), "{d:?}: {e}");
        assert_eq!(file_len(&log), before, "{d:?}: rolled back");
        assert_eq!(s.log_position(), before);
        check_model(&s, &m, &[100]);
        s.store(101, b"kept").unwrap();
        m.insert(101, b"kept".to_vec());
        assert_eq!(file_len(&log), STEP, "{d:?}: allocated again");
        assert_eq!(vfs.count(Op::Allocate), 2);
        let end = s.log_position();
        s.close().unwrap();
        assert_eq!(file_len(&log), end, "{d:?}: the close gave the space back");

        let s = Store::open(dir.path(), &opts(d)).unwrap();
        assert_eq!(s.open_report().torn_tail, None, "{d:?}");
        check_model(&s, &m, &[100]);
        s.close().unwrap();
        assert_eq!(vfs.injected(), 1);
        account("failed_write_into_allocated_space_is_rolled_back", &vfs);
    }
}

/// A failed `fallocate` (a full disk, a file system without it) fails no
/// write: the write grows the file itself, and the log stops allocating
/// ahead until it is reopened.
#[test]
fn failed_allocation_fails_no_write() {
    for errno in [libc::ENOSPC, libc::EOPNOTSUPP] {
        let dir = tmp();
        let log = log_path(dir.path());
        let vfs = FaultVfs::new();
        vfs.fail_nth(Op::Allocate, 1, FaultKind::Errno(errno));
        let s = Store::open_with_vfs(vfs.clone(), dir.path(), &opts(Durability::Fsync)).unwrap();
        let m = seed(&s);
        assert_eq!(vfs.injected(), 1, "errno {errno}");
        assert_eq!(vfs.count(Op::Allocate), 1, "tried once, errno {errno}");
        assert_eq!(file_len(&log), s.log_position(), "errno {errno}");
        s.close().unwrap();

        let s = Store::open_with_vfs(vfs.clone(), dir.path(), &opts(Durability::Fsync)).unwrap();
        check_model(&s, &m, &[9]);
        s.store(9, b"nine").unwrap();
        assert_eq!(vfs.count(Op::Allocate), 2, "a reopen tries again");
        assert_eq!(file_len(&log), STEP);
        s.close().unwrap();
        account("failed_allocation_fails_no_write", &vfs);
    }
}

/// A failed write whose rollback fails too, in allocated space: the torn
/// half of the record sits before the zeros. Its header is intact, so the
/// reopen cuts the whole record its header describes (the half written and
/// the zeros where the rest belongs), not the free space after it, and
/// keeps everything acknowledged.
#[test]
fn failed_rollback_in_allocated_space_cuts_the_torn_record() {
    let dir = tmp();
    let log = log_path(dir.path());
    let vfs = FaultVfs::new();
    let o = opts(Durability::Fsync);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let m = seed(&s);
    let before = s.log_position();
    vfs.fail_nth(Op::Write, 1, SHORT_EIO);
    vfs.fail_nth(Op::SetLen, 1, EIO);
    let e = s.store(1, &payload(1, 99, 300)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    assert_eq!(s.close().unwrap_err().kind(), ErrorKind::Poisoned);
    assert_eq!(file_len(&log), STEP, "the space ahead stays");
    let half = ((HDR + 300) / 2) as usize;
    let written = fs::read(&log).unwrap()[before as usize..][..half].to_vec();

    let s = Store::open(dir.path(), &o).unwrap();
    let tail = s.open_report().torn_tail.clone().expect("a torn tail");
    assert_eq!((tail.offset, tail.bytes), (before, HDR + 300));
    let side = fs::read(tail.saved_to.unwrap()).unwrap();
    assert_eq!(side.len() as u64, HDR + 300);
    assert_eq!(side[..half], written[..]);
    assert!(side[half..].iter().all(|&b| b == 0));
    assert_eq!(file_len(&log), before, "cut, the space ahead with it");
    check_model(&s, &m, &[6]);
    s.close().unwrap();
    assert_eq!(vfs.injected(), 2);
    account(
        "failed_rollback_in_allocated_space_cuts_the_torn_record",
        &vfs,
    );
}
