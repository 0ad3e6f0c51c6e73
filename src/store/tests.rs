//! Unit tests of the store layer; the integration tests in `tests/` cover
//! the rest (corruption matrix, faults, concurrency, the C ABI).

use super::*;
use crate::error::ErrorKind;
use crate::vfs::{FaultVfs, Op};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
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
    assert_eq!(
        std::fs::metadata(&s.report.log_path).unwrap().len(),
        64 + 32 + 8
    );
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
    s.store(2, b"").unwrap();
    assert!(s.should_snapshot());
    assert_eq!(s.log_position(), 64 + 99 + 32);
}
