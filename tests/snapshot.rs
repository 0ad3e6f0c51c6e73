//! Index snapshots: open loads a trusted snapshot and replays only the log
//! after it; a missing, damaged, truncated, foreign or stale snapshot falls
//! back to a full replay and never serves wrong data.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walstore::{Durability, ErrorKind, Options, RecoveryMode, Store};
mod common;
use common::tmp as tempdir;
use tempfile::TempDir;

type Model = BTreeMap<u64, Vec<u8>>;

fn flush() -> Options {
    let mut o = Options::default();
    o.set_durability(Durability::Flush);
    o
}

fn payload(id: u64, round: u64) -> Vec<u8> {
    format!("id {id} round {round}").into_bytes()
}

/// Applies the same operations to the store and the model.
fn put(s: &Store, m: &mut Model, id: u64, round: u64) {
    s.store(id, &payload(id, round)).unwrap();
    m.insert(id, payload(id, round));
}

fn del(s: &Store, m: &mut Model, id: u64) {
    s.delete(id).unwrap();
    m.remove(&id);
}

fn assert_matches(s: &Store, m: &Model, ids: std::ops::Range<u64>, ctx: &str) {
    for id in ids {
        match m.get(&id) {
            Some(v) => assert_eq!(&s.retrieve(id).unwrap(), v, "{ctx}: id {id}"),
            None => assert_eq!(
                s.retrieve(id).unwrap_err().kind(),
                ErrorKind::NotFound,
                "{ctx}: id {id}"
            ),
        }
    }
    assert_eq!(s.len(), m.len(), "{ctx}: live ids");
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snapshot-")
        })
        .collect();
    v.sort();
    v
}

/// A store with a snapshot in the middle of its history: returns the
/// model, the snapshot's position and the records written after it.
fn build(dir: &Path) -> (Model, u64, u64) {
    build_with(dir, 20, 3)
}

/// `build` with ids `0..ids`, of which every `every`th is deleted before
/// the snapshot.
fn build_with(dir: &Path, ids: u64, every: usize) -> (Model, u64, u64) {
    let s = Store::open(dir, &flush()).unwrap();
    let mut m = Model::new();
    for id in 0..ids {
        put(&s, &mut m, id, 0);
    }
    for id in (0..ids).step_by(every) {
        del(&s, &mut m, id);
    }
    put(&s, &mut m, 1, 1);
    let pos = s.snapshot().unwrap();
    assert_eq!(pos, s.log_position());
    assert_eq!(s.snapshot_position(), pos);
    // After the snapshot: overwrites, deletes (of ids live in the snapshot),
    // new ids and a batch.
    put(&s, &mut m, 2, 2);
    del(&s, &mut m, 4);
    put(&s, &mut m, 30, 0);
    s.store_batch(&[(31, b"a"), (5, b"b")]).unwrap();
    m.insert(31, b"a".to_vec());
    m.insert(5, b"b".to_vec());
    s.close().unwrap();
    (m, pos, 5)
}

#[test]
fn open_loads_the_snapshot_and_replays_only_what_follows() {
    let t = tempdir();
    let (m, pos, after) = build(t.path());
    assert_eq!(snapshot_files(t.path()).len(), 1);
    let s = Store::open(t.path(), &flush()).unwrap();
    let r = s.open_report();
    assert_eq!(r.snapshot_used, Some(pos));
    assert_eq!(r.records_replayed, after);
    assert!(r.snapshots_rejected.is_empty());
    assert_eq!(s.snapshot_position(), pos);
    assert_matches(&s, &m, 0..40, "from snapshot");
    // And again, after more writes and a second snapshot.
    let mut m = m;
    put(&s, &mut m, 3, 9);
    del(&s, &mut m, 30);
    let pos2 = s.snapshot().unwrap();
    assert_eq!(
        snapshot_files(t.path()).len(),
        1,
        "the older one is removed"
    );
    s.close().unwrap();
    let s = Store::open(t.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(pos2));
    assert_eq!(s.open_report().records_replayed, 0);
    assert_matches(&s, &m, 0..40, "second snapshot");
}

#[test]
fn a_missing_snapshot_means_a_full_replay_with_the_same_result() {
    let t = tempdir();
    let (m, _, _) = build(t.path());
    for f in snapshot_files(t.path()) {
        fs::remove_file(f).unwrap();
    }
    let s = Store::open(t.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, None);
    assert_eq!(s.open_report().records_replayed, 20 + 7 + 1 + 5);
    assert_matches(&s, &m, 0..40, "full replay");
}

/// Opens a copy of the store in `pristine` whose snapshot `snap` holds
/// `bytes` instead, and checks that the open refused it.
fn open_refusing(pristine: &Path, snap: &Path, bytes: &[u8], what: &str) -> (TempDir, Store) {
    let d = tempdir();
    copy_dir(pristine, d.path());
    fs::write(d.path().join(snap.file_name().unwrap()), bytes).unwrap();
    let s = Store::open(d.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, None, "{what}");
    assert_eq!(s.open_report().snapshots_rejected.len(), 1, "{what}");
    (d, s)
}

/// Every byte of the snapshot damaged, and every truncation of it: the open
/// never trusts it, replays the whole log, gets the exact same state, and
/// removes the bad file.
#[test]
fn a_damaged_or_truncated_snapshot_is_never_trusted() {
    let t = tempdir();
    let (m, _, _) = build(t.path());
    let snap = snapshot_files(t.path()).pop().unwrap();
    let good = fs::read(&snap).unwrap();
    let pristine = tempdir();
    copy_dir(t.path(), pristine.path());
    let mut cases = 0;
    let damaged = (0..good.len()).map(|i| {
        let mut d = good.clone();
        d[i] ^= 0x5a;
        (format!("byte {i} damaged"), d)
    });
    let truncated = (0..good.len()).map(|l| (format!("truncated to {l}"), good[..l].to_vec()));
    for (what, bytes) in damaged.chain(truncated) {
        let (d, s) = open_refusing(pristine.path(), &snap, &bytes, &what);
        assert_matches(&s, &m, 0..40, &what);
        drop(s);
        assert!(snapshot_files(d.path()).is_empty(), "{what}: removed");
        cases += 1;
    }
    assert_eq!(cases, 2 * good.len());
    println!("damaged or truncated snapshots refused: {cases}");
}

/// Ids in a row go to the index's pages, and a page at least half full is
/// written as a page image. Such a snapshot reopens to exactly the model;
/// damage to its page count, to its first image's head, or to a slot (every
/// byte of those, every seventh of the slots), or a truncation inside its
/// images, is refused, and the open replays the log instead.
#[test]
fn a_snapshot_with_page_images_reopens_exactly_and_refuses_every_damage() {
    let t = tempdir();
    let (m, pos, after) = build_with(t.path(), 600, 5);
    let snap = snapshot_files(t.path()).pop().unwrap();
    let good = fs::read(&snap).unwrap();
    // Pages 0 and 1 (204 and 205 ids) as images; page 2's 71 as entries.
    assert_eq!(good[64..72], 2u64.to_le_bytes());
    assert_eq!(good.len(), 72 + 2 * 3088 + 71 * 20);
    let s = Store::open(t.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(pos));
    assert_eq!(s.open_report().records_replayed, after);
    assert_matches(&s, &m, 0..700, "from images");
    drop(s);

    let pristine = tempdir();
    copy_dir(t.path(), pristine.path());
    let image = 72..72 + 3088;
    let heads = (64..image.start + 16).map(|i| (i, 0x5a));
    let slots = (image.start + 16..image.end).step_by(7).map(|i| (i, 0x01));
    let damaged = heads.chain(slots).map(|(i, flip)| {
        let mut d = good.clone();
        d[i] ^= flip;
        (format!("byte {i} damaged"), d)
    });
    let cuts = [73, 72 + 16, 72 + 3087, 72 + 3088, 72 + 2 * 3088 - 1];
    let truncated = cuts.map(|l| (format!("truncated to {l}"), good[..l].to_vec()));
    let mut cases = 0;
    for (what, bytes) in damaged.chain(truncated) {
        let (_d, s) = open_refusing(pristine.path(), &snap, &bytes, &what);
        assert_eq!(
            s.open_report().records_replayed,
            600 + 120 + 1 + after,
            "{what}"
        );
        assert_matches(&s, &m, 0..700, &what);
        cases += 1;
    }
    assert_eq!(cases, 24 + 3072 / 7 + 1 + 5);
}

#[test]
fn a_snapshot_from_another_store_is_refused() {
    let a = tempdir();
    let (m, pos, _) = build(a.path());
    let b = tempdir();
    let (_, _, _) = build(b.path());
    // Same generation and position, same name: only the identity differs.
    let theirs = snapshot_files(b.path()).pop().unwrap();
    let ours = snapshot_files(a.path()).pop().unwrap();
    assert_eq!(theirs.file_name(), ours.file_name());
    fs::copy(&theirs, &ours).unwrap();
    let s = Store::open(a.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, None);
    let why = &s.open_report().snapshots_rejected[0];
    assert!(why.contains("belongs to log"), "{why}");
    assert_matches(&s, &m, 0..40, "foreign snapshot");
    assert!(pos > 64);
}

/// A snapshot whose position lies past the end of the log (the log lost its
/// tail) is refused, and removed for good: once new writes grow the log
/// past that position again, it must not come back describing records it
/// never saw.
#[test]
fn a_snapshot_past_the_end_of_the_log_is_refused_and_stays_gone() {
    let t = tempdir();
    let s = Store::open(t.path(), &flush()).unwrap();
    let mut m = Model::new();
    for id in 0..10 {
        put(&s, &mut m, id, 0);
    }
    let cut = s.log_position();
    for id in 10..20 {
        put(&s, &mut m, id, 0);
    }
    let pos = s.snapshot().unwrap();
    s.close().unwrap();
    let log = t.path().join("wal-0000000000000001.log");
    let f = fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(cut).unwrap();
    drop(f);
    for id in 10..20 {
        m.remove(&id);
    }

    let s = Store::open(t.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, None);
    assert!(s.open_report().snapshots_rejected[0].contains("outside the log"));
    assert!(snapshot_files(t.path()).is_empty());
    assert_matches(&s, &m, 0..40, "after losing the tail");
    // Grow the log past the old position with different records.
    for id in 100..140 {
        put(&s, &mut m, id, 1);
    }
    assert!(s.log_position() > pos);
    s.close().unwrap();
    let s = Store::open(t.path(), &flush()).unwrap();
    assert_eq!(s.open_report().snapshot_used, None);
    assert_matches(&s, &m, 0..140, "regrown");
}

#[test]
fn deleted_ids_stay_deleted_through_snapshot_and_reopen_in_every_order() {
    // delete then snapshot; snapshot then delete; delete, snapshot, re-store.
    let t = tempdir();
    let s = Store::open(t.path(), &flush()).unwrap();
    let mut m = Model::new();
    for id in 0..3 {
        put(&s, &mut m, id, 0);
    }
    del(&s, &mut m, 0);
    s.snapshot().unwrap();
    del(&s, &mut m, 1);
    del(&s, &mut m, 2);
    s.snapshot().unwrap();
    put(&s, &mut m, 2, 5);
    s.close().unwrap();
    for round in 0..2 {
        let s = Store::open(t.path(), &flush()).unwrap();
        assert!(s.open_report().snapshot_used.is_some());
        assert_matches(&s, &m, 0..3, &format!("reopen {round}"));
        assert_eq!(s.delete(0).unwrap_err().kind(), ErrorKind::NotFound);
    }
}

/// An id that a SALVAGE open found damaged stays damaged in the snapshot: it
/// never turns into an older version or into "not found".
#[test]
fn a_salvaged_damaged_id_stays_damaged_through_a_snapshot() {
    let t = tempdir();
    let s = Store::open(t.path(), &flush()).unwrap();
    s.store(1, b"old").unwrap();
    s.store(1, b"newest").unwrap();
    s.store(2, b"two").unwrap();
    s.close().unwrap();
    let log = t.path().join("wal-0000000000000001.log");
    let mut bytes = fs::read(&log).unwrap();
    let newest_payload = 64 + 32 + 3 + 32;
    bytes[newest_payload] ^= 1;
    fs::write(&log, &bytes).unwrap();

    let mut salvage = flush();
    salvage.set_recovery(RecoveryMode::Salvage);
    let s = Store::open(t.path(), &salvage).unwrap();
    assert_eq!(s.damaged_ids(), vec![1]);
    s.snapshot().unwrap();
    s.close().unwrap();
    // Strict now opens: the damage lies before the snapshot's position.
    let s = Store::open(t.path(), &flush()).unwrap();
    assert!(s.open_report().snapshot_used.is_some());
    assert_eq!(s.damaged_ids(), vec![1]);
    assert_eq!(s.retrieve(1).unwrap_err().kind(), ErrorKind::Corruption);
    assert_eq!(s.retrieve(2).unwrap(), b"two");
}

#[test]
fn snapshot_under_none_durability_covers_buffered_writes() {
    let t = tempdir();
    let mut o = Options::default();
    o.set_durability(Durability::None);
    let s = Store::open(t.path(), &o).unwrap();
    s.store(1, b"buffered").unwrap();
    let pos = s.snapshot().unwrap();
    assert_eq!(pos, 64 + 32 + 8);
    // The record is in the file (which runs a preallocation step ahead).
    let log = fs::read(t.path().join("wal-0000000000000001.log")).unwrap();
    assert_eq!(&log[pos as usize - 8..pos as usize], b"buffered");
    assert!(log[pos as usize..].iter().all(|&b| b == 0));
    drop(s);
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(pos));
    assert_eq!(s.retrieve(1).unwrap(), b"buffered");
}

#[test]
fn read_only_opens_use_a_snapshot_and_remove_nothing() {
    let t = tempdir();
    let (m, pos, _) = build(t.path());
    let bogus = t
        .path()
        .join("snapshot-0000000000000001-0000000000000040.snap");
    fs::write(&bogus, b"not a snapshot").unwrap();
    let mut ro = Options::default();
    ro.set_read_only(true);
    let s = Store::open(t.path(), &ro).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(pos));
    assert_matches(&s, &m, 0..40, "read-only");
    assert_eq!(s.snapshot().unwrap_err().kind(), ErrorKind::InvalidArgument);
    drop(s);
    assert_eq!(snapshot_files(t.path()).len(), 2);
}

/// Readers and writers keep going while snapshots are taken; every result is
/// checked, and the reopened store equals what the writers acknowledged.
#[test]
fn snapshots_run_beside_readers_and_writers() {
    let t = tempdir();
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let dir = t.path().join(format!("{d:?}"));
        let mut o = Options::default();
        o.set_durability(d);
        let s = Arc::new(Store::open(&dir, &o).unwrap());
        let writers: Vec<_> = (0..3u64)
            .map(|w| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..300u64 {
                        let id = w * 1000 + i % 50;
                        s.store(id, &payload(id, i)).unwrap();
                        assert_eq!(s.retrieve(id).unwrap(), payload(id, i));
                        if i % 7 == 0 {
                            s.delete(id).unwrap();
                        }
                    }
                })
            })
            .collect();
        let snapper = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..20 {
                    let p = s.snapshot().unwrap();
                    assert!(p >= last);
                    last = p;
                }
            })
        };
        for h in writers {
            h.join().unwrap();
        }
        snapper.join().unwrap();
        let expect: Model = (0..3u64)
            .flat_map(|w| (250..300u64).map(move |i| (w, i)))
            .filter(|(_, i)| i % 7 != 0)
            .map(|(w, i)| (w * 1000 + i % 50, payload(w * 1000 + i % 50, i)))
            .collect();
        Arc::try_unwrap(s).unwrap().close().unwrap();
        let s = Store::open(&dir, &o).unwrap();
        assert!(s.open_report().snapshot_used.is_some(), "{d:?}");
        for w in 0..3u64 {
            assert_matches(&s, &expect, w * 1000..w * 1000 + 50, &format!("{d:?}"));
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// An automatic snapshot copies the index after its position is fixed,
/// while writers go on: the copy meets ids overwritten, deleted, deleted by
/// a range and stored anew after the position. The sync of the log that
/// comes first is held until those writes are made, so the copy certainly
/// meets them. The snapshot holds only entries before its position, an open
/// accepts it, and the replay after it brings back exactly the model.
#[test]
fn an_automatic_snapshot_copied_while_writers_go_on_reopens_exactly() {
    use walstore::vfs::FaultVfs;
    let dir = tempdir();
    let vfs = FaultVfs::new();
    let mut o = Options::default();
    o.set_durability(Durability::Flush)
        .set_snapshot_threshold(4096);
    let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
    let mut want = Model::new();
    // Below the threshold: 20 records of 16 + 32 bytes.
    for id in 0..20u64 {
        want.insert(id, payload(id, 0));
        s.store(id, &want[&id]).unwrap();
    }
    assert_eq!(s.stats().auto_snapshots, 0);
    // The snapshot job's log sync waits for the 6 writes after the one
    // that starts it.
    vfs.hold_next_sync_until_writes(7);
    let big = vec![7u8; 4096];
    want.insert(100, big.clone());
    s.store(100, &big).unwrap();
    let position = s.log_position();
    s.store(3, &payload(3, 1)).unwrap(); // overwritten
    want.insert(3, payload(3, 1));
    s.delete(4).unwrap(); // deleted
    want.remove(&4);
    s.delete_range(10, 12).unwrap(); // deleted by a range
    for id in 10..=12 {
        want.remove(&id);
    }
    s.store(11, &payload(11, 2)).unwrap(); // deleted, then stored again
    want.insert(11, payload(11, 2));
    s.store(200, &payload(200, 0)).unwrap(); // new
    want.insert(200, payload(200, 0));
    s.store(5, &payload(5, 3)).unwrap(); // overwritten
    want.insert(5, payload(5, 3));
    common::wait_for("the automatic snapshot", || s.stats().auto_snapshots == 1);
    assert_eq!(s.stats().auto_snapshot_failures, 0);
    assert_eq!(s.snapshot_position(), position);
    s.close().unwrap();
    // The copy met the writes: it holds the 21 ids at the position, less
    // the 4 deleted (4, 10, 11, 12) and the 2 overwritten (3, 5) after it.
    // 72 bytes of header and page count, and 20 per entry.
    let snap: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    assert_eq!(snap.len(), 1);
    assert_eq!(fs::metadata(&snap[0]).unwrap().len(), 72 + 20 * 15);

    let s = Store::open(dir.path(), &o).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(position));
    assert_eq!(s.open_report().snapshots_rejected, Vec::<String>::new());
    assert_eq!(s.open_report().records_replayed, 6);
    assert_matches(&s, &want, 0..300, "after the reopen");
    assert_eq!(s.len(), want.len());
}

/// The store in `dir` opened twice: as it is, and from a copy without its
/// snapshot files (a full replay). A snapshot must never change what an
/// open finds.
fn open_with_and_without_snapshot(dir: &Path, o: &Options) -> (Store, Store, tempfile::TempDir) {
    let bare = tempdir();
    copy_dir(dir, bare.path());
    for e in fs::read_dir(bare.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snap") {
            fs::remove_file(p).unwrap();
        }
    }
    let with = Store::open(dir, o).unwrap();
    let without = Store::open(bare.path(), o).unwrap();
    assert_eq!(without.open_report().snapshot_used, None);
    (with, without, bare)
}

/// What `none_store_of_20_synced_ids` holds, plus id 100: 4 KiB of 7s.
fn twenty_ids_and_a_big_one() -> Model {
    let mut m: Model = (0..20u64).map(|id| (id, payload(id, 0))).collect();
    m.insert(100, vec![7u8; 4096]);
    m
}

/// A NONE store on a fault-injecting file system, with automatic snapshots
/// every 4 KiB of log, holding ids 0..20 (`payload(id, 0)`), all durable.
fn none_store_of_20_synced_ids(
    dir: &Path,
) -> (
    walstore::vfs::FaultVfs,
    Options,
    Store<walstore::vfs::FaultVfs>,
) {
    let vfs = walstore::vfs::FaultVfs::new();
    let mut o = Options::default();
    o.set_durability(Durability::None)
        .set_snapshot_threshold(4096);
    let s = Store::open_with_vfs(vfs.clone(), dir, &o).unwrap();
    for id in 0..20u64 {
        s.store(id, &payload(id, 0)).unwrap();
    }
    s.sync().unwrap();
    (vfs, o, s)
}

/// Under NONE, an automatic snapshot's copy meets a delete still in the
/// write buffer. The snapshot (without the id) must not outlive the delete:
/// the job makes the whole log durable after its copy, so a process crash
/// that follows keeps both, and the open with the snapshot agrees with a
/// full replay.
#[test]
fn an_automatic_snapshot_makes_durable_what_its_copy_met_before_a_crash() {
    use walstore::vfs::{CrashPolicy, OpenMode, Vfs, VfsFile};
    let dir = tempdir();
    let side = tempdir();
    let (vfs, o, s) = none_store_of_20_synced_ids(dir.path());
    // The job's first log sync waits for 2 writes: the buffer flush of the
    // write that starts it, and a write to another file made once the
    // delete sits in the buffer. The copy that follows meets the delete.
    vfs.hold_next_sync_until_writes(2);
    s.store(100, &[7u8; 4096]).unwrap();
    let position = s.log_position();
    s.delete(3).unwrap();
    let f = vfs
        .open(&side.path().join("other"), OpenMode::CreateNew)
        .unwrap();
    f.write_all_at(b"x", 0).unwrap();
    common::wait_for("the automatic snapshot", || s.stats().auto_snapshots == 1);
    assert_eq!(s.stats().auto_snapshot_failures, 0);
    vfs.crash_now(CrashPolicy::Random(1));
    drop((f, s));

    let (with, without, _bare) = open_with_and_without_snapshot(dir.path(), &o);
    assert_eq!(with.open_report().snapshot_used, Some(position));
    assert_eq!(with.open_report().records_replayed, 1, "the delete");
    let mut want = twenty_ids_and_a_big_one();
    want.remove(&3);
    assert_matches(&with, &want, 0..200, "with the snapshot");
    assert_matches(&without, &want, 0..200, "by a full replay");
}

/// Under NONE, the flush that would carry the delete the copy met fails
/// (ENOSPC) and poisons the handle: the job installs nothing, and the open
/// replays the whole log, in which the delete never arrived.
#[test]
fn an_automatic_snapshot_of_a_poisoned_handle_is_not_installed() {
    use walstore::vfs::{FaultKind, Op};
    let dir = tempdir();
    let (vfs, o, s) = none_store_of_20_synced_ids(dir.path());
    vfs.hold_next_sync_until_writes(2);
    vfs.fail_nth(Op::Write, 2, FaultKind::Errno(28));
    s.store(100, &[7u8; 4096]).unwrap();
    s.delete(3).unwrap();
    // Write 2, the flush of the delete, fails and releases the job.
    assert_eq!(s.sync().unwrap_err().kind(), ErrorKind::NoSpace);
    common::wait_for("the automatic snapshot", || {
        s.stats().auto_snapshot_failures == 1
    });
    let st = s.stats();
    assert_eq!(st.auto_snapshots, 0);
    let why = st.last_auto_snapshot_error.unwrap();
    assert!(why.contains("poisoned"), "{why}");
    drop(s);

    let (with, without, _bare) = open_with_and_without_snapshot(dir.path(), &o);
    assert_eq!(with.open_report().snapshot_used, None);
    let want = twenty_ids_and_a_big_one();
    assert_matches(&with, &want, 0..200, "the store");
    assert_matches(&without, &want, 0..200, "by a full replay");
}

/// Random workloads under NONE and FLUSH with automatic snapshots every
/// 2 KiB of log, cut by a simulated power loss at the end (perhaps in the
/// middle of a snapshot; at least one was installed before). A snapshot never changes what an open finds: the
/// open that may load one and a full replay of a copy without snapshot
/// files agree on every id, and every id untouched since the last `sync`
/// holds its value from then.
#[test]
fn automatic_snapshots_under_power_loss_never_change_what_an_open_finds() {
    use std::collections::BTreeSet;
    use walstore::vfs::FaultVfs;
    use walstore::WriteBatch;
    let mut snapshots_loaded = 0;
    for seed in 1..=40u64 {
        let d = if seed % 2 == 0 {
            Durability::None
        } else {
            Durability::Flush
        };
        let dir = tempdir();
        let vfs = FaultVfs::with_power_loss();
        let mut o = Options::default();
        o.set_durability(d).set_snapshot_threshold(2048);
        let s = Store::open_with_vfs(vfs.clone(), dir.path(), &o).unwrap();
        let mut model = Model::new();
        let mut synced = Model::new();
        let mut touched = BTreeSet::new();
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for step in 0..400u64 {
            if step == 200 {
                // One snapshot is surely installed before the power loss
                // (however slow its thread); later ones may be cut short.
                common::wait_for("an automatic snapshot", || s.stats().auto_snapshots >= 1);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = (x >> 8) % 64;
            match x % 20 {
                0..=9 => {
                    s.store(id, &payload(id, step)).unwrap();
                    model.insert(id, payload(id, step));
                    touched.insert(id);
                }
                10..=12 if model.contains_key(&id) => {
                    s.delete(id).unwrap();
                    model.remove(&id);
                    touched.insert(id);
                }
                13..=15 => {
                    let other = (id + 17) % 64;
                    let mut b = WriteBatch::new();
                    b.delete(other).store(id, &payload(id, step));
                    s.write_batch(&b).unwrap();
                    model.remove(&other);
                    model.insert(id, payload(id, step));
                    touched.extend([id, other]);
                }
                16 => {
                    let hi = (id + 4).min(63);
                    s.delete_range(id, hi).unwrap();
                    for k in id..=hi {
                        model.remove(&k);
                        touched.insert(k);
                    }
                }
                _ => {
                    s.sync().unwrap();
                    synced = model.clone();
                    touched.clear();
                }
            }
        }
        vfs.power_loss(seed);
        drop(s);

        let (with, without, _bare) = open_with_and_without_snapshot(dir.path(), &o);
        snapshots_loaded += u32::from(with.open_report().snapshot_used.is_some());
        for id in 0..64u64 {
            let a = with.retrieve(id).ok();
            assert_eq!(a, without.retrieve(id).ok(), "seed {seed} {d:?}: id {id}");
            if !touched.contains(&id) {
                assert_eq!(a.as_ref(), synced.get(&id), "seed {seed} {d:?}: id {id}");
            }
        }
    }
    // The check means something only if snapshots were loaded.
    assert!(
        snapshots_loaded >= 20,
        "{snapshots_loaded} of 40 opens used a snapshot"
    );
    println!("{snapshots_loaded} of 40 opens loaded an automatic snapshot");
}
