//! Many threads on one `Arc<Store>`: mixed writes with exact read-back,
//! group commit, readers alongside a busy writer, `Durability::None` buffers
//! seen across threads, and `should_snapshot` read while others write.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use walstore::vfs::{FaultVfs, Op, Vfs};
use walstore::{Durability, ErrorKind, Options, Store};

const HEADER: u64 = 64;
const REC: u64 = 32;

fn shm_tmp() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// A directory on the real disk, where fdatasync takes real time.
fn disk_tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn opts(d: Durability) -> Options {
    let mut o = Options::new();
    o.set_durability(d);
    o
}

/// A self-identifying payload: writer thread, counter and id, then bytes
/// derived from the three. Its length varies with them too.
fn make(thread: u64, counter: u64, id: u64) -> Vec<u8> {
    let len = 24 + ((thread * 131 + counter * 31 + id * 7) % 300) as usize;
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&thread.to_le_bytes());
    p.extend_from_slice(&counter.to_le_bytes());
    p.extend_from_slice(&id.to_le_bytes());
    let mut x = (thread << 48) ^ (counter << 16) ^ id ^ 0x2545_F491_4F6C_DD1D;
    while p.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push(x as u8);
    }
    p
}

/// Checks that `p` is exactly a payload some writer made for `id`; returns
/// (thread, counter).
fn decode(p: &[u8], id: u64) -> (u64, u64) {
    assert!(p.len() >= 24, "payload of id {id} is {} bytes", p.len());
    let word = |i: usize| u64::from_le_bytes(p[i * 8..i * 8 + 8].try_into().unwrap());
    let (t, c, pid) = (word(0), word(1), word(2));
    assert_eq!(pid, id, "payload of id {id} names id {pid}");
    assert_eq!(p, &make(t, c, id)[..], "payload of id {id} is not intact");
    (t, c)
}

/// Exactly what `want` says: the bytes, or NotFound, through every read call.
fn check<V: Vfs>(s: &Store<V>, id: u64, want: Option<&Vec<u8>>) {
    match want {
        Some(w) => {
            assert_eq!(&s.retrieve(id).unwrap(), w, "id {id}");
            assert_eq!(s.payload_len(id).unwrap(), w.len(), "len of id {id}");
            let mut small = vec![0u8; w.len() - 1];
            let e = s.retrieve_into(id, &mut small).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BufferTooSmall, "{e}");
            let mut buf = vec![0u8; w.len()];
            assert_eq!(s.retrieve_into(id, &mut buf).unwrap(), w.len());
            assert_eq!(&buf, w);
        }
        None => {
            assert_eq!(s.retrieve(id).unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(s.payload_len(id).unwrap_err().kind(), ErrorKind::NotFound);
            let mut buf = [0u8; 8];
            assert_eq!(
                s.retrieve_into(id, &mut buf).unwrap_err().kind(),
                ErrorKind::NotFound
            );
        }
    }
}

const THREADS: u64 = 8;
const OWN: u64 = 32;
const SHARED: u64 = 4;
const ITERS: u64 = 400;

fn own_base(t: u64) -> u64 {
    (t + 1) << 32
}

/// One thread's work: stores, batches (with a shared id and with a repeated
/// id), deletes and reads on its own ids, stores to the shared ids, and reads
/// of shared ids and of another thread's ids. Returns its final model.
fn mixed_worker<V: Vfs>(s: &Store<V>, t: u64) -> HashMap<u64, Vec<u8>> {
    let base = own_base(t);
    let mut model: HashMap<u64, Vec<u8>> = HashMap::new();
    for i in 0..ITERS {
        let c = i + 1;
        let own = base + (i * 7) % OWN;
        let own2 = base + (i * 7 + 1) % OWN;
        let sh = 1 + i % SHARED;
        match i % 6 {
            0 | 1 => {
                let p = make(t, c, own);
                s.store(own, &p).unwrap();
                model.insert(own, p);
            }
            2 => {
                let (a, b, x) = (make(t, c, own), make(t, c, own2), make(t, c, sh));
                s.store_batch(&[(own, &a), (own2, &b), (sh, &x)]).unwrap();
                model.insert(own, a);
                model.insert(own2, b);
            }
            3 => match model.remove(&own) {
                Some(_) => s.delete(own).unwrap(),
                None => {
                    let e = s.delete(own).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                }
            },
            4 => s.store(sh, &make(t, c, sh)).unwrap(),
            _ => {
                // The later entry for the same id wins.
                let (a, b, x) = (make(t, c, own), make(t, c, own2), make(t, c + 100_000, own));
                s.store_batch(&[(own, &a), (own2, &b), (own, &x)]).unwrap();
                model.insert(own2, b);
                model.insert(own, x);
            }
        }
        for probe in [own, own2, base + (i * 13) % OWN] {
            check(s, probe, model.get(&probe));
        }
        // A shared id always holds some complete payload some thread wrote.
        let shared = 1 + (i * 3) % SHARED;
        let (writer, _) = decode(&s.retrieve(shared).unwrap(), shared);
        assert!(writer <= THREADS, "shared id {shared} written by {writer}");
        // Another thread's id is either absent or that thread's payload.
        let other_t = (t + 1 + i % (THREADS - 1)) % THREADS;
        let other = own_base(other_t) + i % OWN;
        match s.retrieve(other) {
            Ok(p) => assert_eq!(decode(&p, other).0, other_t),
            Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
        }
    }
    model
}

fn verify_all<V: Vfs>(s: &Store<V>, models: &[HashMap<u64, Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut live = 0;
    for (t, m) in models.iter().enumerate() {
        let base = own_base(t as u64);
        for k in 0..OWN {
            check(s, base + k, m.get(&(base + k)));
        }
        live += m.len();
    }
    let shared: Vec<Vec<u8>> = (1..=SHARED)
        .map(|id| {
            let p = s.retrieve(id).unwrap();
            decode(&p, id);
            p
        })
        .collect();
    assert_eq!(s.len(), live + SHARED as usize);
    shared
}

fn mixed_operations(d: Durability) {
    let started = Instant::now();
    let dir = shm_tmp();
    let o = opts(d);
    let s = Arc::new(Store::open(dir.path(), &o).unwrap());
    for id in 1..=SHARED {
        s.store(id, &make(THREADS, 0, id)).unwrap();
    }
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, barrier) = (s.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                mixed_worker(&*s, t)
            })
        })
        .collect();
    let models: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let shared = verify_all(&*s, &models);
    let end = s.log_position();
    Arc::try_unwrap(s).unwrap().close().unwrap();

    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.log_position(), end);
    assert_eq!(verify_all(&s, &models), shared, "shared ids after reopen");
    s.close().unwrap();
    eprintln!(
        "[concurrency] mixed {d:?}: {THREADS} threads x {ITERS} ops, {} live ids, log {end} bytes, {:?}",
        models.iter().map(HashMap::len).sum::<usize>() + SHARED as usize,
        started.elapsed()
    );
}

#[test]
fn mixed_operations_from_many_threads_flush() {
    mixed_operations(Durability::Flush);
}

#[test]
fn mixed_operations_from_many_threads_none() {
    mixed_operations(Durability::None);
}

/// Same workload under Fsync: every write goes through group commit.
#[test]
fn mixed_operations_from_many_threads_fsync() {
    mixed_operations(Durability::Fsync);
}

/// Under Fsync an acknowledged write must be readable as soon as the call
/// returns, whatever other writers do. Many small writers on tmpfs (where
/// fdatasync is cheap, so leaders change often) reach the window reliably.
#[test]
fn fsync_acknowledged_write_is_visible_at_once() {
    const WRITERS: u64 = 16;
    const PER: u64 = 3000;
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let dir = shm_tmp();
        let o = opts(Durability::Fsync);
        let s = Arc::new(Store::open(dir.path(), &o).unwrap());
        let barrier = Arc::new(Barrier::new(WRITERS as usize));
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (s, barrier) = (s.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    let mut invisible = Vec::new();
                    for k in 0..PER {
                        let id = own_base(t) + k;
                        s.store(id, &id.to_le_bytes()).unwrap();
                        match s.retrieve(id) {
                            Ok(p) => assert_eq!(p, id.to_le_bytes()),
                            Err(e) => {
                                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                                invisible.push(id);
                            }
                        }
                    }
                    invisible
                })
            })
            .collect();
        let invisible: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        eprintln!(
            "[concurrency] round {round}: {} of {} acknowledged Fsync stores were NotFound \
             right after Ok: {:?}",
            invisible.len(),
            WRITERS * PER,
            &invisible[..invisible.len().min(10)]
        );
        assert!(
            invisible.is_empty(),
            "acknowledged but not visible: {invisible:?}"
        );
        Arc::try_unwrap(s).unwrap().close().unwrap();
    }
}

#[test]
fn group_commit_shares_fdatasyncs() {
    const WRITES: u64 = 50;
    let dir = disk_tmp();
    let vfs = FaultVfs::new();
    let o = opts(Durability::Fsync);
    let s = Arc::new(Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap());
    let syncs_before = vfs.count(Op::SyncData);
    // The first sync waits until the other threads have appended: they
    // meet a sync in progress and must share the next one, however fast
    // this machine's fdatasync is (on tmpfs it costs nothing, and the
    // threads might otherwise never overlap).
    vfs.hold_next_sync_until_writes(THREADS - 1);
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let started = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, barrier) = (s.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for k in 0..WRITES {
                    let id = own_base(t) + k;
                    s.store(id, &make(t, k, id)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = started.elapsed();
    let syncs = vfs.count(Op::SyncData) - syncs_before;
    let writes = THREADS * WRITES;
    eprintln!(
        "[concurrency] group commit: {writes} Fsync writes from {THREADS} threads took \
         {syncs} fdatasyncs in {elapsed:?}"
    );
    assert!(syncs >= 1);
    assert!(syncs < writes, "{syncs} fdatasyncs for {writes} writes");
    assert_eq!(vfs.injected(), 0);
    let verify = |s: &Store<FaultVfs>| {
        for t in 0..THREADS {
            for k in 0..WRITES {
                let id = own_base(t) + k;
                assert_eq!(s.retrieve(id).unwrap(), make(t, k, id));
            }
        }
        assert_eq!(s.len() as u64, writes);
    };
    verify(&s);
    Arc::try_unwrap(s).unwrap().close().unwrap();
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.open_report().records_replayed, writes);
    verify(&s);
    s.close().unwrap();
}

#[test]
fn readers_proceed_while_a_writer_is_busy() {
    const SMALL: u64 = 64;
    const LARGE: u64 = 12;
    const READERS: u64 = 4;
    let dir = shm_tmp();
    let o = opts(Durability::Fsync);
    let s = Arc::new(Store::open(dir.path(), &o).unwrap());
    for id in 1..=SMALL {
        s.store(id, &make(0, 0, id)).unwrap();
    }
    let large: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..LARGE)
            .map(|k| {
                let mut p = make(1, k, 1000 + k);
                p.resize(4 << 20, (k as u8).wrapping_mul(37) | 1);
                p
            })
            .collect(),
    );
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, large, acked, done) = (s.clone(), large.clone(), acked.clone(), done.clone());
        thread::spawn(move || {
            for (k, p) in large.iter().enumerate() {
                s.store(1000 + k as u64, p).unwrap();
                acked.store(k as u64 + 1, Ordering::Release);
            }
            done.store(true, Ordering::Release);
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (s, large, acked, done) = (s.clone(), large.clone(), acked.clone(), done.clone());
            thread::spawn(move || {
                let (mut during, mut large_reads, mut i) = (0u64, 0u64, 0u64);
                // At least 200 reads each, and on until the writer is done.
                while i < 200 || !done.load(Ordering::Acquire) {
                    let writer_busy = !done.load(Ordering::Acquire);
                    let id = 1 + (i * 7 + r) % SMALL;
                    assert_eq!(s.retrieve(id).unwrap(), make(0, 0, id));
                    let n = acked.load(Ordering::Acquire);
                    if n > 0 && i % 16 == 0 {
                        let k = i / 16 % n;
                        assert_eq!(s.retrieve(1000 + k).unwrap(), large[k as usize]);
                        large_reads += 1;
                    }
                    if writer_busy {
                        during += 1;
                    }
                    i += 1;
                }
                (i, during, large_reads)
            })
        })
        .collect();
    writer.join().unwrap();
    for (r, h) in readers.into_iter().enumerate() {
        let (reads, during, large_reads) = h.join().unwrap();
        eprintln!(
            "[concurrency] reader {r}: {reads} reads ({large_reads} of 4 MiB payloads), \
             {during} begun while the writer was busy"
        );
        assert!(reads >= 200);
    }
    for (k, p) in large.iter().enumerate() {
        assert_eq!(&s.retrieve(1000 + k as u64).unwrap(), p);
    }
    Arc::try_unwrap(s).unwrap().close().unwrap();
    let s = Store::open(dir.path(), &o).unwrap();
    for (k, p) in large.iter().enumerate() {
        assert_eq!(&s.retrieve(1000 + k as u64).unwrap(), p);
    }
    for id in 1..=SMALL {
        assert_eq!(s.retrieve(id).unwrap(), make(0, 0, id));
    }
    s.close().unwrap();
}

#[test]
fn none_durability_buffered_writes_are_seen_by_other_threads() {
    const WRITERS: u64 = 4;
    const PER: u64 = 300;
    let dir = shm_tmp();
    let mut o = opts(Durability::None);
    o.set_write_buffer(4096).unwrap();
    let s = Arc::new(Store::open(dir.path(), &o).unwrap());
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let log = dir.path().join("wal-0000000000000001.log");
    let handles: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (s, acked, barrier) = (s.clone(), acked.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut cross_reads = 0u64;
                for k in 0..PER {
                    let id = own_base(t) + k;
                    s.store(id, &make(t, k, id)).unwrap();
                    assert_eq!(s.retrieve(id).unwrap(), make(t, k, id));
                    acked[t as usize].store(k + 1, Ordering::Release);
                    // Read what the other writers have acknowledged so far:
                    // their newest (likely still buffered) and an older one.
                    for u in (0..WRITERS).filter(|&u| u != t) {
                        let n = acked[u as usize].load(Ordering::Acquire);
                        for j in [n.wrapping_sub(1), (k * 31) % n.max(1)] {
                            if j < n {
                                let id = own_base(u) + j;
                                assert_eq!(s.retrieve(id).unwrap(), make(u, j, id));
                                cross_reads += 1;
                            }
                        }
                    }
                }
                cross_reads
            })
        })
        .collect();
    let cross: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let position = s.log_position();
    // The file runs a preallocation step ahead of its records: what the
    // OS holds ends with its last non-zero byte (payloads here end with one).
    let file = std::fs::read(&log).unwrap();
    let on_disk = file
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1);
    eprintln!(
        "[concurrency] None: {} writes, {cross} cross-thread reads; log position {position}, \
         {on_disk} bytes in the file before close",
        WRITERS * PER
    );
    assert!(on_disk <= position);
    assert!(
        position - on_disk <= 4096,
        "at most one buffer in the process"
    );
    let verify = |s: &Store| {
        for t in 0..WRITERS {
            for k in 0..PER {
                let id = own_base(t) + k;
                assert_eq!(s.retrieve(id).unwrap(), make(t, k, id));
            }
        }
        assert_eq!(s.len() as u64, WRITERS * PER);
    };
    verify(&s);
    Arc::try_unwrap(s).unwrap().close().unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), position);
    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.log_position(), position);
    verify(&s);
    s.close().unwrap();
}

#[test]
fn should_snapshot_threshold_exact_and_concurrent() {
    let dir = shm_tmp();
    let mut o = opts(Durability::Flush);
    o.set_snapshot_threshold(4096);
    let s = Arc::new(Store::open(dir.path(), &o).unwrap());
    assert_eq!(s.log_position(), HEADER);
    assert!(!s.should_snapshot());

    // should_snapshot is exactly "the log grew by the threshold since the
    // newest snapshot"; automatic snapshots move that point forward in the
    // background. The observer checks the rule whenever no snapshot
    // completed while it looked.
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (s, done) = (s.clone(), done.clone());
        thread::spawn(move || {
            let (mut falses, mut trues) = (0u64, 0u64);
            loop {
                let finished = done.load(Ordering::Acquire);
                let sp1 = s.snapshot_position();
                let before = s.log_position();
                let snap = s.should_snapshot();
                let after = s.log_position();
                let sp2 = s.snapshot_position();
                assert!(before <= after && sp1 <= sp2);
                if sp1 == sp2 {
                    if before - sp1 >= 4096 {
                        assert!(snap, "position {before}, snapshot at {sp1}");
                    }
                    if snap {
                        assert!(after - sp1 >= 4096, "true at {after}, snapshot at {sp1}");
                    }
                }
                if snap {
                    trues += 1;
                } else {
                    falses += 1;
                }
                if finished {
                    return (falses, trues);
                }
            }
        })
    };
    // Records of 32 + 224 = 256 bytes: the 16th reaches exactly 4096.
    for k in 0..40u64 {
        let p = vec![k as u8; 224];
        s.store(k, &p).unwrap();
        assert_eq!(s.log_position() - HEADER, (k + 1) * 256);
        if k < 15 {
            assert!(!s.should_snapshot(), "after write {k}");
        }
        thread::yield_now();
    }
    done.store(true, Ordering::Release);
    let (falses, trues) = observer.join().unwrap();
    eprintln!("[concurrency] should_snapshot seen by another thread: {falses} false, {trues} true");
    let s = Arc::try_unwrap(s).unwrap();
    // The background snapshot may still be running: wait for it (60 s at
    // most; it fsyncs, and a loaded machine can take seconds over that).
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while s.stats().auto_snapshots == 0 && Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(1));
    }
    let st = s.stats();
    assert!(st.auto_snapshots >= 1, "40 x 256 bytes crossed 4096");
    assert_eq!(st.auto_snapshot_failures, 0);
    s.close().unwrap();

    // A reopened store measures from the snapshot it loaded.
    let s = Store::open(dir.path(), &o).unwrap();
    let from = s.open_report().snapshot_used.unwrap();
    assert_eq!(s.snapshot_position(), from);
    assert_eq!(s.should_snapshot(), s.log_position() - from >= 4096);
    s.close().unwrap();

    // Threshold 0: never.
    let mut o0 = opts(Durability::Flush);
    o0.set_snapshot_threshold(0);
    let s = Store::open(dir.path(), &o0).unwrap();
    assert!(!s.should_snapshot());
    for k in 0..100u64 {
        s.store(1000 + k, &[7u8; 500]).unwrap();
        assert!(!s.should_snapshot());
    }
    assert!(s.log_position() - HEADER >= 40 * 256 + 100 * (REC + 500));
    s.close().unwrap();
}
