//! Unit tests of the store layer; the integration tests in `tests/` cover
//! the rest (corruption matrix, faults, concurrency, the C ABI).

use super::*;
use crate::error::ErrorKind;
use crate::index::lone;
use crate::vfs::{FaultVfs, Op};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// The next of a cheap, seeded pseudo-random sequence.
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn opts(d: Durability) -> Options {
    let mut o = Options::default();
    o.set_durability(d);
    o
}

#[test]
fn every_durability_round_trips_and_survives_reopen() {
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let t = dir();
        let s = Store::open(t.path(), &opts(d)).unwrap();
        s.store(1, b"one").unwrap();
        s.store_batch(&[(2, b"two"), (3, b"three"), (2, b"TWO")])
            .unwrap();
        s.store(4, b"").unwrap();
        s.delete(3).unwrap();
        assert_eq!(s.retrieve(1).unwrap(), b"one");
        assert_eq!(s.retrieve(2).unwrap(), b"TWO");
        assert_eq!(s.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.retrieve(4).unwrap(), b"");
        assert_eq!(s.delete(3).unwrap_err().kind(), ErrorKind::NotFound);
        s.close().unwrap();

        let s = Store::open(t.path(), &opts(d)).unwrap();
        assert_eq!(s.open_report().records_replayed, 6, "{d:?}");
        assert_eq!(s.open_report().torn_tail, None);
        assert_eq!(s.retrieve(2).unwrap(), b"TWO");
        assert_eq!(s.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.len(), 3);
    }
}

#[test]
fn none_durability_reads_see_buffered_writes_before_any_flush() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::None)).unwrap();
    s.store(9, b"buffered").unwrap();
    let log_len = std::fs::metadata(&s.report.log_path).unwrap().len();
    assert_eq!(log_len, 64, "the record is still in the process buffer");
    assert_eq!(s.retrieve(9).unwrap(), b"buffered");
    s.sync().unwrap();
    // The flush grew the log ahead of its record, which ends at 104.
    assert_eq!(s.log_position(), 64 + 32 + 8);
    assert_eq!(
        std::fs::metadata(&s.report.log_path).unwrap().len(),
        crate::format::PREALLOCATION_STEP
    );
    let path = s.report.log_path.clone();
    s.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 + 32 + 8);
}

#[test]
fn fsync_durability_syncs_before_returning() {
    let t = dir();
    let vfs = FaultVfs::new();
    let s = Store::open_with_vfs(vfs.clone(), t.path(), &Options::default()).unwrap();
    let before = vfs.count(Op::SyncData);
    s.store(1, b"x").unwrap();
    s.delete(1).unwrap();
    assert_eq!(vfs.count(Op::SyncData), before + 2);
    // Nothing new to make durable: no fdatasync.
    s.sync().unwrap();
    assert_eq!(vfs.count(Op::SyncData), before + 2);
}

#[test]
fn torn_tail_is_saved_cut_and_new_writes_survive() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"keep").unwrap();
    s.store(2, b"torn away").unwrap();
    let log = s.report.log_path.clone();
    s.close().unwrap();
    let full = std::fs::read(&log).unwrap();
    let cut_at = 64 + 32 + 4;
    std::fs::write(&log, &full[..full.len() - 3]).unwrap();

    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    let tail = s.open_report().torn_tail.clone().unwrap();
    assert_eq!(
        (tail.offset, tail.bytes),
        (cut_at, full.len() as u64 - 3 - cut_at)
    );
    let saved = std::fs::read(tail.saved_to.unwrap()).unwrap();
    assert_eq!(saved, &full[cut_at as usize..full.len() - 3]);
    assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::NotFound);
    s.store(3, b"after").unwrap();
    s.close().unwrap();

    let s = Store::open(t.path(), &Options::default()).unwrap();
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.retrieve(1).unwrap(), b"keep");
    assert_eq!(s.retrieve(3).unwrap(), b"after");
}

#[test]
fn should_snapshot_follows_the_log_position() {
    let t = dir();
    let mut o = opts(Durability::Flush);
    o.set_snapshot_threshold(100);
    let s = Store::open(t.path(), &o).unwrap();
    assert!(!s.should_snapshot());
    s.store(1, &[0u8; 67]).unwrap(); // 99 bytes of log
    assert!(!s.should_snapshot());
    // The 100th byte: the flag turns true and an automatic snapshot starts,
    // which brings it back to false once the snapshot is current.
    s.store(2, b"").unwrap();
    assert_eq!(s.log_position(), 64 + 99 + 32);
    wait_for(|| !s.should_snapshot());
    assert_eq!(s.snapshot_position(), s.log_position());
    let mut off = opts(Durability::Flush);
    off.set_snapshot_threshold(0);
    let t = dir();
    let s = Store::open(t.path(), &off).unwrap();
    s.store(1, &[0u8; 1000]).unwrap();
    assert!(!s.should_snapshot(), "0 turns them off");
    assert_eq!(s.stats().auto_snapshots, 0);
}

/// A store of ids 0..40 (records 1..=40, one byte each), with a snapshot
/// threshold of 100 bytes and automatic snapshots off.
fn forty_ids_with_manual_snapshots() -> (tempfile::TempDir, Options, Store) {
    let t = dir();
    let mut o = opts(Durability::Flush);
    o.set_snapshot_threshold(100).set_auto_snapshot(false);
    let s = Store::open(t.path(), &o).unwrap();
    for id in 0..40 {
        s.store(id, b"x").unwrap();
    }
    (t, o, s)
}

/// Past the byte threshold, a snapshot of 40 ids (taken after record 40)
/// is due only at record 50: a quarter of its entries in records. A reopen
/// that loads it keeps that schedule; a compaction, which starts a log with
/// no snapshot, leaves only the byte threshold.
#[test]
fn a_snapshot_is_due_once_a_quarter_of_its_entries_were_written_after_it() {
    let (t, o, s) = forty_ids_with_manual_snapshots();
    assert!(s.should_snapshot(), "no snapshot yet: bytes alone");
    s.snapshot().unwrap();
    assert!(!s.should_snapshot());
    for id in 40..49 {
        assert_eq!(s.store_seq(id, &[7; 100]).unwrap(), id + 1);
        assert!(s.log_position() - s.snapshot_position() >= 100);
        assert!(!s.should_snapshot(), "record {}", id + 1);
    }
    s.close().unwrap();

    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.open_report().records_replayed, 9);
    assert!(
        !s.should_snapshot(),
        "the loaded snapshot keeps its schedule"
    );
    assert_eq!(s.store_seq(49, &[7; 100]).unwrap(), 50);
    assert!(s.should_snapshot(), "record 50");
    s.snapshot().unwrap();
    // 50 entries: due at record 62.
    assert_eq!(s.store_seq(50, &[7; 100]).unwrap(), 51);
    assert!(!s.should_snapshot());
    s.compact().unwrap();
    assert!(s.log_position() - s.snapshot_position() >= 100);
    assert!(s.should_snapshot(), "after a compaction, bytes alone");
    let mut off = o.clone();
    off.set_snapshot_threshold(0);
    drop(s);
    let s = Store::open(t.path(), &off).unwrap();
    assert!(!s.should_snapshot(), "threshold 0");
}

/// Replay applies operations a few at a time after prefetching them: a
/// log where the same ids come back within a few records (overwrites,
/// deletes, range deletes, batches) must still replay in log order.
#[test]
fn replay_applies_close_repeats_of_an_id_in_log_order() {
    let t = dir();
    let o = opts(Durability::Flush);
    let s = Store::open(t.path(), &o).unwrap();
    let mut model = std::collections::BTreeMap::new();
    let mut x = 0x5eed_u64;
    for round in 0..3000u64 {
        let id = xorshift(&mut x) % 24;
        match xorshift(&mut x) % 10 {
            0 => {
                let expect = model.remove(&id).map(|_| ());
                assert_eq!(s.delete(id).ok(), expect, "round {round}");
            }
            1 => {
                let hi = id + xorshift(&mut x) % 4;
                s.delete_range(id, hi).unwrap();
                model.retain(|k, _| !(id..=hi).contains(k));
            }
            2 => {
                let v = round.to_le_bytes();
                s.store_batch(&[(id, &v[..3]), (id + 1, &v[..5]), (id, &v[..])])
                    .unwrap();
                model.insert(id + 1, v[..5].to_vec());
                model.insert(id, v.to_vec());
            }
            _ => {
                let v = vec![round as u8; (round % 13) as usize];
                s.store(id, &v).unwrap();
                model.insert(id, v);
            }
        }
    }
    s.close().unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.open_report().snapshot_used, None);
    assert!(s.open_report().records_replayed > 3000);
    for id in 0..30 {
        match model.get(&id) {
            Some(v) => assert_eq!(&s.retrieve(id).unwrap(), v, "id {id}"),
            None => assert_eq!(s.retrieve(id).unwrap_err().kind(), ErrorKind::NotFound),
        }
    }
    let st = s.stats();
    assert_eq!(st.live_ids, model.len() as u64);
    assert_eq!(st.live_bytes, model.values().map(|v| v.len() as u64).sum());
}

/// Records after a snapshot of 40 ids are due at record 50, or earlier
/// once the log after it has grown by 16 times the snapshot's 800 bytes of
/// entries: large records make a snapshot due by bytes.
#[test]
fn a_snapshot_is_due_once_the_log_has_grown_by_sixteen_of_it() {
    let (_t, _, s) = forty_ids_with_manual_snapshots();
    let at = s.snapshot().unwrap();
    s.store(100, &[1; 12_700]).unwrap();
    s.store(101, &[1; 35]).unwrap();
    assert_eq!(s.log_position() - at, 12_799);
    assert!(!s.should_snapshot(), "one byte short, at record 42 of 50");
    s.store(102, b"").unwrap();
    assert!(s.should_snapshot());
}

/// Stores `i` (8 bytes) under `id_of(i)` for i in 0..200,000, with no
/// snapshot, and reopens: a full replay of 200,000 records of 40 bytes.
fn reopened_after_200_000_stores(id_of: fn(u64) -> u64) -> (tempfile::TempDir, Store) {
    let t = dir();
    let mut o = opts(Durability::None);
    o.set_snapshot_threshold(0);
    let s = Store::open(t.path(), &o).unwrap();
    for i in 0..200_000u64 {
        s.store(id_of(i), &i.to_le_bytes()).unwrap();
    }
    s.close().unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.open_report().records_replayed, 200_000);
    (t, s)
}

/// A log of overwrites holds few ids however long it is: its replay does
/// not grow the index the log's length guessed (it projects 100 ids), and
/// then shrinks it to a new index's size. (Ids that open no page, so that
/// they go to the tables.)
#[test]
fn a_full_replay_of_overwrites_shrinks_the_guessed_index() {
    let (t, s) = reopened_after_200_000_stores(|i| lone(i % 100));
    let len = std::fs::metadata(log_of(&t)).unwrap().len();
    let guessed = crate::index::Index::for_log_len(len).memory_bytes();
    assert_eq!(guessed, 612_880);
    assert_eq!(s.index_memory_bytes(), Index::default().memory_bytes());
    assert_eq!(s.len(), 100);
}

/// A full replay guesses the index's size from the log's length (256 bytes
/// per id), then from the ids in its first sixteenth (here the first MiB:
/// 26,215 records of 40 bytes, all new ids), which project exactly 200,000:
/// the index ends presized for them, as from a snapshot of 200,000. (Ids
/// that open no page.)
#[test]
fn a_full_replay_sizes_the_index_from_the_records_it_reads() {
    let (t, s) = reopened_after_200_000_stores(lone);
    assert_eq!(
        std::fs::metadata(log_of(&t)).unwrap().len(),
        64 + 200_000 * 40
    );
    assert_eq!(
        s.index_memory_bytes(),
        crate::index::Index::with_capacity(200_000).memory_bytes()
    );
    assert_eq!(s.retrieve(lone(199_999)).unwrap(), 199_999u64.to_le_bytes());
}

/// Ascending ids replay into pages: the tables the log's length reserved
/// shrink back to a new index's, and the index takes 782 pages of 3,072
/// bytes (12 bytes per id), the pages' maps, and those tables.
#[test]
fn a_full_replay_of_ascending_ids_fills_pages_and_shrinks_the_tables() {
    let (_t, s) = reopened_after_200_000_stores(|i| i);
    assert_eq!(s.index.table_len(), 0);
    assert_eq!(s.index.paged(), (200_000, 782));
    let rest = s.index_memory_bytes() - 782 * 3072 - Index::default().memory_bytes();
    assert!(rest < 782 * 64, "{rest}");
    assert_eq!(s.retrieve(199_999).unwrap(), 199_999u64.to_le_bytes());
    assert_eq!(s.retrieve(0).unwrap(), 0u64.to_le_bytes());
}

fn log_of(t: &tempfile::TempDir) -> std::path::PathBuf {
    t.path().join("wal-0000000000000001.log")
}

#[test]
fn an_all_zero_log_longer_than_a_header_is_damage() {
    for len in [65usize, 4096] {
        let t = dir();
        Store::open(t.path(), &Options::default())
            .unwrap()
            .close()
            .unwrap();
        std::fs::write(log_of(&t), vec![0u8; len]).unwrap();
        let err = Store::open(t.path(), &Options::default()).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: 0, .. }), "{err}");
        assert_eq!(std::fs::read(log_of(&t)).unwrap(), vec![0u8; len]);
    }
}

/// Sequence numbers never repeat one from a cut tail: if the cut bytes ever
/// came back (a crash may expose old contents), they must read as stale.
#[test]
fn records_after_a_cut_number_above_everything_cut() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"one").unwrap(); // seq 1
    s.store_batch(&[(10, b"a"), (11, b"b"), (12, b"c")])
        .unwrap(); // seqs 2..=6
    s.close().unwrap();
    let batch_at = 64 + 32 + 3;
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[batch_at + 32 + 20] ^= 1; // the first entry's header
    std::fs::write(log_of(&t), &bytes).unwrap();

    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    assert_eq!(
        s.open_report().torn_tail.as_ref().unwrap().offset,
        batch_at as u64
    );
    s.store(20, b"new").unwrap();
    s.close().unwrap();
    let log = std::fs::read(log_of(&t)).unwrap();
    let seq = u64::from_le_bytes(log[batch_at + 8..batch_at + 16].try_into().unwrap());
    assert_eq!(seq, 7);
}

#[test]
fn a_zero_filled_header_sized_log_is_a_crash_during_creation() {
    for len in [1usize, 63, 64] {
        let t = dir();
        Store::open(t.path(), &Options::default())
            .unwrap()
            .close()
            .unwrap();
        std::fs::write(log_of(&t), vec![0u8; len]).unwrap();
        let s = Store::open(t.path(), &Options::default()).unwrap();
        assert!(s.open_report().reinitialised, "len {len}");
        assert_eq!(std::fs::metadata(log_of(&t)).unwrap().len(), 64);
        s.store(1, b"x").unwrap();
        s.close().unwrap();
        let s = Store::open(t.path(), &Options::default()).unwrap();
        assert_eq!(s.retrieve(1).unwrap(), b"x");
    }
}

#[test]
fn an_unfinished_newer_generation_does_not_hide_an_older_log() {
    let t = dir();
    let s = Store::open(t.path(), &Options::default()).unwrap();
    s.store(1, b"kept").unwrap();
    s.close().unwrap();
    let newer = t.path().join("wal-0000000000000002.log");
    std::fs::write(&newer, b"WALST").unwrap();
    let err = Store::open(t.path(), &Options::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { path, offset: 0, .. } if *path == newer),
        "{err}"
    );
    assert_eq!(std::fs::read(&newer).unwrap(), b"WALST");
    std::fs::remove_file(&newer).unwrap();
    let s = Store::open(t.path(), &Options::default()).unwrap();
    assert_eq!(s.retrieve(1).unwrap(), b"kept");
}

/// A batch is one write: a crash before its fdatasync may leave its commit
/// intact and an entry damaged. With nothing written after it, that batch
/// was never acknowledged, so it is a torn tail, cut whole.
#[test]
fn a_damaged_entry_in_the_last_batch_is_a_torn_tail() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"before").unwrap();
    s.store_batch(&[(2, b"first"), (3, b"second")]).unwrap();
    s.close().unwrap();
    let batch_at = 64 + 32 + 6;
    let first_payload = batch_at + 32 + 32;
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[first_payload] ^= 1;
    std::fs::write(log_of(&t), &bytes).unwrap();

    let s = Store::open(t.path(), &Options::default()).unwrap();
    let tail = s.open_report().torn_tail.clone().unwrap();
    assert_eq!(
        (tail.offset, tail.bytes),
        (batch_at as u64, bytes.len() as u64 - batch_at as u64)
    );
    assert_eq!(s.retrieve(1).unwrap(), b"before");
    assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
    // With a record after the batch, the same damage is corruption.
    s.store_batch(&[(2, b"first"), (3, b"second")]).unwrap();
    s.store(4, b"after").unwrap();
    s.close().unwrap();
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[first_payload] ^= 1;
    std::fs::write(log_of(&t), &bytes).unwrap();
    let err = Store::open(t.path(), &Options::default()).unwrap_err();
    assert!(
        matches!(err, Error::Corruption { offset, .. } if offset == (batch_at + 32) as u64),
        "{err}"
    );
}

#[test]
fn every_writable_open_makes_the_log_name_durable() {
    let t = dir();
    let vfs = FaultVfs::new();
    Store::open_with_vfs(vfs.clone(), t.path(), &Options::default())
        .unwrap()
        .close()
        .unwrap();
    // Creating the log (the directory exists already): one.
    assert_eq!(vfs.count(Op::SyncDir), 1);
    Store::open_with_vfs(vfs.clone(), t.path(), &Options::default())
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(vfs.count(Op::SyncDir), 2);
    let mut ro = Options::default();
    ro.set_read_only(true);
    Store::open_with_vfs(vfs.clone(), t.path(), &ro)
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(vfs.count(Op::SyncDir), 2, "a read-only open writes nothing");
}

/// An open that creates the log and then removes leftovers (here an
/// unfinished compaction output) fsyncs the directory once more, so the
/// removal is durable too.
#[test]
fn removals_by_an_open_that_created_the_log_are_made_durable() {
    let t = dir();
    std::fs::write(t.path().join("wal-0000000000000002.log.tmp"), b"partial").unwrap();
    let vfs = FaultVfs::new();
    Store::open_with_vfs(vfs.clone(), t.path(), &Options::default())
        .unwrap()
        .close()
        .unwrap();
    assert!(!t.path().join("wal-0000000000000002.log.tmp").exists());
    // One for the new log's name, one for the removal.
    assert_eq!(vfs.count(Op::SyncDir), 2);
}

#[test]
fn a_failed_read_leaves_zeros_not_unverified_bytes() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"secret-good-bytes").unwrap();
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[64 + 32 + 3] ^= 0x20;
    std::fs::write(log_of(&t), &bytes).unwrap();
    let mut buf = [0xaau8; 32];
    let err = s.retrieve_into(1, &mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
    assert_eq!(&buf[..17], &[0u8; 17]);
    assert_eq!(&buf[17..], &[0xaau8; 15]);
}

#[test]
fn every_new_directory_level_is_made_durable() {
    let t = dir();
    let vfs = FaultVfs::new();
    let deep = t.path().join("a/b/c");
    Store::open_with_vfs(vfs.clone(), &deep, &Options::default())
        .unwrap()
        .close()
        .unwrap();
    // t, a and b get fsynced for their new entries, then c for the log.
    assert_eq!(vfs.count(Op::SyncDir), 4);
}

/// `verify` reports every damaged region, not only the first, changes
/// nothing, and refuses (rather than waits) while a writer holds the store.
#[test]
fn verify_lists_every_damaged_region_and_changes_nothing() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    for id in 0..6u64 {
        s.store(id, &[id as u8; 10]).unwrap(); // 42 bytes each, at 64 + 42 * id
    }
    s.delete(5).unwrap();
    assert_eq!(
        crate::verify(t.path(), &mut |_, _| {}).unwrap_err().kind(),
        ErrorKind::Locked
    );
    s.close().unwrap();
    let clean = crate::verify(t.path(), &mut |_, _| {}).unwrap();
    assert!(clean.is_clean());
    assert_eq!((clean.log.stores, clean.log.deletes), (6, 1));

    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    let at = |id: usize| 64 + 42 * id;
    bytes[at(1) + 32] ^= 1; // payload of id 1
    bytes[at(3) + 5] ^= 1; // header of id 3
    bytes.extend_from_slice(&[0xee; 7]); // a torn tail
    std::fs::write(log_of(&t), &bytes).unwrap();
    let mut last = (0, 0);
    let v = crate::verify(t.path(), &mut |a, b| last = (a, b)).unwrap();
    assert_eq!(last, (bytes.len() as u64, bytes.len() as u64));
    let found: Vec<_> = v
        .log
        .damage
        .iter()
        .map(|d| (d.offset, d.length, d.id, d.at_tail))
        .collect();
    let end = bytes.len() as u64;
    assert_eq!(
        found,
        vec![
            (at(1) as u64, 42, Some(1), false),
            (at(3) as u64, 42, None, false),
            (end - 7, 7, None, true),
        ]
    );
    assert!(
        v.log.damage[0].what.contains("expected"),
        "{}",
        v.log.damage[0].what
    );
    assert_eq!((v.log.stores, v.log.deletes), (4, 1));
    assert!(!v.is_clean());
    assert_eq!(
        std::fs::read(log_of(&t)).unwrap(),
        bytes,
        "verify writes nothing"
    );
}

/// A batch whose commit record is missing at the end of the records is a
/// torn tail from its begin record, though every record in it is intact:
/// verify reports it as the open would cut it, with the log ending at the
/// end of the file or (preallocated) where free space begins.
#[test]
fn verify_reports_a_batch_without_its_commit_as_a_torn_tail() {
    use crate::format::PREALLOCATION_STEP;
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"one").unwrap(); // 64..99
    s.store_batch(&[(2, b"two"), (3, b"three")]).unwrap(); // 99..235
    s.close().unwrap();
    let log = std::fs::read(log_of(&t)).unwrap();
    assert_eq!(log.len(), 235);
    let without_commit = &log[..235 - 32];
    for free in [0, PREALLOCATION_STEP as usize - (235 - 32)] {
        let mut bytes = without_commit.to_vec();
        bytes.resize(bytes.len() + free, 0);
        std::fs::write(log_of(&t), &bytes).unwrap();
        let v = crate::verify(t.path(), &mut |_, _| {}).unwrap();
        let found: Vec<_> = v
            .log
            .damage
            .iter()
            .map(|d| (d.offset, d.length, d.id, d.at_tail, d.what.as_str()))
            .collect();
        assert_eq!(
            found,
            [(
                99,
                235 - 32 - 99,
                None,
                true,
                "the batch begun at offset 99 has no commit record"
            )],
            "{free} free bytes"
        );
        assert_eq!(v.log.free_bytes, free as u64);
        assert_eq!((v.log.stores, v.log.batches), (3, 1));
        assert!(!v.is_clean());
        let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
        let tail = s.open_report().torn_tail.clone().unwrap();
        assert_eq!((tail.offset, tail.bytes), (99, 235 - 32 - 99), "{free}");
        assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::NotFound);
        s.close().unwrap();
        for p in std::fs::read_dir(t.path()).unwrap() {
            let p = p.unwrap().path();
            if p.to_string_lossy().contains(".cut-") {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
}

#[test]
fn iteration_is_a_point_in_time_in_id_order() {
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let t = dir();
        let s = Store::open(t.path(), &opts(d)).unwrap();
        s.store_batch(&[(3, b"three"), (1, b"one"), (2, b"")])
            .unwrap();
        s.store(9, b"nine").unwrap();
        s.delete(1).unwrap();
        let mut cursor = s.cursor();
        // Changes after the cursor was taken do not show in it.
        s.store(2, b"two, later").unwrap();
        s.delete(3).unwrap();
        s.store(5, b"five").unwrap();
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        while let Some(r) = cursor.next_into(&s, &mut buf) {
            seen.push((r.unwrap(), buf.clone()));
        }
        assert_eq!(
            seen,
            vec![
                (2, b"".to_vec()),
                (3, b"three".to_vec()),
                (9, b"nine".to_vec())
            ],
            "{d:?}"
        );
        let now: Vec<_> = s.iter().map(|r| r.unwrap()).collect();
        assert_eq!(
            now,
            vec![
                (2, b"two, later".to_vec()),
                (5, b"five".to_vec()),
                (9, b"nine".to_vec())
            ]
        );
    }
}

#[test]
fn iteration_reports_a_damaged_payload_and_moves_on() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"aaaa").unwrap();
    s.store(2, b"bbbb").unwrap();
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[64 + 32] ^= 1;
    std::fs::write(log_of(&t), &bytes).unwrap();
    let got: Vec<_> = s.iter().map(|r| r.map_err(|e| e.kind())).collect();
    assert_eq!(
        got,
        vec![Err(ErrorKind::Corruption), Ok((2, b"bbbb".to_vec()))]
    );
}

#[test]
fn stats_count_live_and_dead_bytes() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    let empty = s.stats();
    assert_eq!(
        (empty.live_ids, empty.log_bytes, empty.dead_bytes),
        (0, 64, 0)
    );
    assert_eq!(empty.dead_ratio, 0.0);
    s.store(1, &[0; 100]).unwrap(); // 132
    s.store(2, &[0; 50]).unwrap(); // 82
    s.store(1, &[0; 10]).unwrap(); // 42: the first record of id 1 is dead
    s.delete(2).unwrap(); // 32: dead, and so is id 2's record
    let st = s.stats();
    assert_eq!((st.live_ids, st.live_bytes), (1, 10));
    assert_eq!(st.log_bytes, 64 + 132 + 82 + 42 + 32);
    assert_eq!(st.dead_bytes, 132 + 82 + 32);
    assert_eq!(st.dead_ratio, 246.0 / 288.0);
    s.close().unwrap();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    assert_eq!(s.stats(), st, "the same after a reopen");
}

/// Polls `cond` for at most 60 s: background jobs fsync, and a loaded
/// machine (or valgrind) can take seconds over it.
fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Crossing the threshold starts a snapshot in the background; the next
/// open loads it. Under every durability level, the snapshot holds exactly
/// what was acknowledged before its position.
#[test]
fn crossing_the_threshold_takes_a_snapshot_in_the_background() {
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let t = dir();
        let mut o = opts(d);
        o.set_snapshot_threshold(2000);
        let s = Store::open(t.path(), &o).unwrap();
        for id in 0..40u64 {
            s.store(id, &[id as u8; 100]).unwrap(); // 132 bytes each
        }
        s.delete(7).unwrap();
        wait_for(|| s.stats().auto_snapshots >= 1);
        assert!(s.snapshot_position() > 64, "{d:?}");
        assert_eq!(s.stats().auto_snapshot_failures, 0);
        s.close().unwrap();
        let s = Store::open(t.path(), &o).unwrap();
        let used = s.open_report().snapshot_used.unwrap();
        assert!(used >= 64 + 2000, "{d:?}: {used}");
        for id in 0..40u64 {
            if id == 7 {
                assert_eq!(s.retrieve(id).unwrap_err().kind(), ErrorKind::NotFound);
            } else {
                assert_eq!(s.retrieve(id).unwrap(), vec![id as u8; 100], "{d:?}");
            }
        }
    }
}

#[test]
fn a_failed_automatic_snapshot_never_fails_the_write() {
    let t = dir();
    let vfs = FaultVfs::new();
    let mut o = opts(Durability::Flush);
    o.set_snapshot_threshold(500);
    let s = Store::open_with_vfs(vfs.clone(), t.path(), &o).unwrap();
    vfs.fail_nth(Op::Rename, 1, crate::vfs::FaultKind::Errno(libc::EIO));
    // Writes up to the one that crosses the threshold and starts the
    // snapshot; no more until it has failed, or one of them would start
    // the retry early.
    let mut id = 0u64;
    while !s.should_snapshot() {
        s.store(id, &[1; 100]).unwrap();
        id += 1;
    }
    assert_eq!(id, 4);
    wait_for(|| s.stats().auto_snapshot_failures == 1);
    let st = s.stats();
    assert_eq!(st.auto_snapshots, 0);
    assert!(st.last_auto_snapshot_error.unwrap().starts_with("rename"));
    // The next write past the threshold tries again, and succeeds.
    s.store(id, &[1; 100]).unwrap();
    wait_for(|| s.stats().auto_snapshots == 1);
    assert_eq!(s.stats().auto_snapshot_failures, 1);
    for id in 0..=id {
        assert_eq!(s.retrieve(id).unwrap(), vec![1; 100]);
    }
}

/// Automatic snapshots taken while several writers run: reopening from the
/// snapshot gives exactly what the writers were acknowledged.
#[test]
fn automatic_snapshots_beside_concurrent_fsync_writers() {
    let t = dir();
    let mut o = Options::default();
    o.set_snapshot_threshold(4096);
    let s = std::sync::Arc::new(Store::open(t.path(), &o).unwrap());
    let hs: Vec<_> = (0..4u64)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..150u64 {
                    s.store(w * 1000 + i % 40, &(w * 1000 + i).to_le_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    wait_for(|| s.stats().auto_snapshots >= 1);
    std::sync::Arc::try_unwrap(s).unwrap().close().unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    assert!(s.open_report().snapshot_used.is_some());
    for w in 0..4u64 {
        for k in 0..40u64 {
            let last = (0..150u64).filter(|i| i % 40 == k).max().unwrap();
            assert_eq!(
                s.retrieve(w * 1000 + k).unwrap(),
                (w * 1000 + last).to_le_bytes()
            );
        }
    }
}

/// Found by fuzzing: damage followed only by an uncommitted (torn) batch is
/// part of the torn tail, in every mode, so a SALVAGE open and the open
/// after it agree (before, SALVAGE marked the id damaged, cut the batch, and
/// the next open cut the damaged record and served the older version).
#[test]
fn damage_followed_only_by_a_torn_batch_is_one_torn_tail() {
    let t = dir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"old").unwrap();
    s.store(1, b"newer").unwrap();
    s.store_batch(&[(2, b"a"), (3, b"b")]).unwrap();
    s.close().unwrap();
    let newer_at = 64 + 32 + 3;
    let mut bytes = std::fs::read(log_of(&t)).unwrap();
    bytes[newer_at + 32] ^= 1; // the newer payload
    bytes.truncate(bytes.len() - 1); // the batch loses its commit
    std::fs::write(log_of(&t), &bytes).unwrap();
    let mut salvage = opts(Durability::Flush);
    salvage.set_recovery(RecoveryMode::Salvage);
    for round in 0..2 {
        let s = Store::open(t.path(), &salvage).unwrap();
        assert_eq!(s.damaged_ids(), Vec::<u64>::new(), "round {round}");
        assert_eq!(s.retrieve(1).unwrap(), b"old", "round {round}");
        let tail = s.open_report().torn_tail.clone();
        assert_eq!(
            tail.map(|t| t.offset),
            (round == 0).then_some(newer_at as u64)
        );
    }
}

/// Explicit and automatic snapshots list their page images and their
/// entries in fill order, so that an open fills the index from them without
/// probing (but for the ids whose probe wrapped past the end of their
/// shard's slots), and the pages come back.
#[test]
fn snapshots_are_written_in_fill_order() {
    let t = dir();
    let mut o = opts(Durability::Flush);
    o.set_snapshot_threshold(400_000);
    let s = Store::open(t.path(), &o).unwrap();
    let log_id = s.current().log_id;
    let in_fill_order = |position: u64| {
        let path = t
            .path()
            .join(crate::format::names::snapshot_file_name(1, position));
        let vfs = crate::vfs::StdVfs;
        // The images' entries come first, then the file's entries (their
        // count at byte 48), each part in fill order.
        let snap = crate::snapshot::load(&vfs, &path, log_id, 1, 64, position).unwrap();
        let count = u64::from_le_bytes(std::fs::read(&path).unwrap()[48..56].try_into().unwrap());
        let imaged = snap.entries.len() - count as usize;
        let in_order = |from: usize, to: usize| {
            let paged = snap.paged.iter();
            let paged = paged.map(|r| r.start.clamp(from, to) - from..r.end.clamp(from, to) - from);
            let list = crate::index::FillList {
                entries: snap.entries[from..to].to_vec(),
                paged: paged.filter(|r| !r.is_empty()).collect(),
            };
            list.in_fill_order()
        };
        assert!(in_order(0, imaged) && in_order(imaged, snap.entries.len()));
        let l = crate::snapshot::load_index(&vfs, &path, log_id, 1, 64, position).unwrap();
        (l.index.len(), imaged, l.out_of_order, l.index.paged().0)
    };
    let mut x = 0x2545_f491_4f6c_dd1du64;
    // 5,000 stores of 100 bytes, 132 log bytes each, every other one at a
    // random id and the rest at ascending ids from 2^40 (which go to
    // pages): the one that passes 400,000 bytes starts an automatic
    // snapshot.
    for n in 0..5000u64 {
        let id = if n % 2 == 0 {
            xorshift(&mut x)
        } else {
            (1 << 40) + n / 2
        };
        s.store(id, &[1; 100]).unwrap();
        if n == 3100 {
            wait_for(|| s.stats().auto_snapshots == 1);
            let auto = s.snapshot_position();
            assert_eq!(auto, 64 + 3031 * 132);
            assert_eq!(in_fill_order(auto), (3031, 1515, 2, 1515));
        }
    }
    let explicit = s.snapshot().unwrap();
    assert_eq!(explicit, 64 + 5000 * 132);
    assert_eq!(in_fill_order(explicit), (5000, 2500, 7, 2500));
    s.close().unwrap();
}

/// Every durable write call leaves the count of writers under way, which a
/// sync leader waits for, as it found it: after success, after an error
/// inside the append lock (a missing id), after a failed fdatasync, and on
/// the poisoned handle after it.
#[test]
fn durable_writes_leave_no_writer_counted() {
    let t = dir();
    let vfs = FaultVfs::new();
    let s = Store::open_with_vfs(vfs.clone(), t.path(), &opts(Durability::Fsync)).unwrap();
    let counted = || s.commit.writers_under_way();
    s.store(1, b"one").unwrap();
    assert_eq!(counted(), 0);
    assert_eq!(s.delete(2).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(counted(), 0);
    vfs.fail_nth(Op::SyncData, 1, crate::vfs::FaultKind::Errno(libc::EIO));
    assert_eq!(s.store(3, b"three").unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(counted(), 0);
    assert_eq!(s.store(4, b"four").unwrap_err().kind(), ErrorKind::Poisoned);
    assert_eq!(counted(), 0);
}

/// The live payload bytes an open keeps while it loads a snapshot and
/// replays the log after it are those of the store before it closed, and
/// of a model, under every durability level: stores, overwrites, deletes,
/// range deletes and batches, before and after the snapshot.
#[test]
fn live_bytes_survive_a_snapshot_and_the_replay_after_it() {
    use std::collections::BTreeMap;
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let t = dir();
        let s = Store::open(t.path(), &opts(d)).unwrap();
        let mut m: BTreeMap<u64, usize> = BTreeMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        // Records written after the snapshot: each store, delete and range
        // delete is one, a batch's three entries are three.
        let mut after = 0u64;
        for step in 0..3000u64 {
            let id = xorshift(&mut x) % 500;
            let records = match step % 10 {
                0..=5 => {
                    let len = (x >> 20) as usize % 50;
                    s.store(id, &vec![7u8; len]).unwrap();
                    m.insert(id, len);
                    1
                }
                6 | 7 => match m.remove(&id) {
                    Some(_) => {
                        s.delete(id).unwrap();
                        1
                    }
                    None => {
                        assert_eq!(s.delete(id).unwrap_err().kind(), ErrorKind::NotFound);
                        0
                    }
                },
                8 => {
                    let hi = id + (x >> 40) % 30;
                    s.delete_range(id, hi).unwrap();
                    m.retain(|k, _| !(id..=hi).contains(k));
                    1
                }
                _ => {
                    let mut b = WriteBatch::new();
                    b.store(id, b"abc").delete(id + 1).store(id + 2, b"");
                    s.write_batch(&b).unwrap();
                    m.insert(id, 3);
                    m.remove(&(id + 1));
                    m.insert(id + 2, 0);
                    3
                }
            };
            if step > 1500 {
                after += records;
            }
            if step == 1500 {
                s.snapshot().unwrap();
            }
        }
        let want: u64 = m.values().map(|&l| l as u64).sum();
        assert_eq!(s.stats().live_bytes, want, "{d:?} before close");
        s.close().unwrap();
        let s = Store::open(t.path(), &opts(d)).unwrap();
        assert!(s.open_report().snapshot_used.is_some());
        assert_eq!(s.open_report().records_replayed, after, "{d:?}");
        assert_eq!(s.stats().live_bytes, want, "{d:?} after reopen");
        assert_eq!(s.len(), m.len());
        s.close().unwrap();
    }
}
