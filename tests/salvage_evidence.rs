//! Damage whose only evidence lies inside a torn tail is part of that tail,
//! in every recovery mode, and the next open agrees with the first (a
//! fuzzing find: `fuzz/regressions/open_log/salvage-evidence-overlapping-tail`).
//!
//! The log: a store of id 0 (sequence 1) at 64 with a damaged payload; a
//! record at 100 (sequence 2) whose damaged payload overlaps an intact
//! record at 133 (sequence 2 too). The record at 133 is a valid record above
//! sequence 1, so it looks like evidence that the damage at 64 was
//! acknowledged. But nothing above sequence 2 follows the record at 100, so
//! it begins a torn tail, and the record at 133 lies inside that tail.
//! Once the tail is cut, nothing is left to show that the damage at 64 was
//! ever acknowledged, so the damage at 64 is part of the tail too.

use std::path::Path;

use tempfile::TempDir;
use walstore::{ErrorKind, Options, RecoveryMode, Store};

const LOG: &[u8] = include_bytes!("../fuzz/regressions/open_log/salvage-evidence-overlapping-tail");

fn store_with_log(dir: &Path) {
    std::fs::write(dir.join("wal-0000000000000001.log"), LOG).unwrap();
    std::fs::write(dir.join("LOCK"), b"").unwrap();
}

#[test]
fn damage_with_its_evidence_in_the_tail_is_cut_with_it_in_every_mode() {
    for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
        let t = TempDir::new().unwrap();
        store_with_log(t.path());
        let mut o = Options::default();
        o.set_recovery(mode).set_auto_snapshot(false);
        let s = Store::open(t.path(), &o).unwrap();
        let r = s.open_report().clone();
        let tail = r.torn_tail.clone().expect("a torn tail");
        assert_eq!(
            (tail.offset, tail.bytes),
            (64, LOG.len() as u64 - 64),
            "{mode:?}"
        );
        assert_eq!((r.records_replayed, r.damaged_records), (0, 0), "{mode:?}");
        assert_eq!(s.damaged_ids(), Vec::<u64>::new());
        assert_eq!(s.retrieve(0).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.log_position(), 64);
        // The next writes number above everything the tail held.
        assert_eq!(s.store_seq(0, b"new").unwrap(), 3);
        drop(s);
        // The next open agrees.
        let s = Store::open(t.path(), &o).unwrap();
        assert_eq!(s.open_report().torn_tail, None);
        assert_eq!(s.retrieve(0).unwrap(), b"new");
    }
    // ABSOLUTE refuses to cut, at the same offset.
    let t = TempDir::new().unwrap();
    store_with_log(t.path());
    let mut o = Options::default();
    o.set_recovery(RecoveryMode::Absolute);
    let e = Store::open(t.path(), &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert!(
        e.to_string()
            .contains("at offset 64: torn tail of 106 bytes"),
        "{e}"
    );
}

/// A batch with a damaged entry is no evidence for damage before it: when
/// nothing follows the batch it is a torn tail, and the earlier damage goes
/// with it (the next open then agrees). Found by review of the replay rules.
#[test]
fn a_batch_with_a_damaged_entry_is_no_evidence() {
    for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
        let t = TempDir::new().unwrap();
        let mut o = Options::default();
        o.set_auto_snapshot(false);
        let s = Store::open(t.path(), &o).unwrap();
        s.store(1, b"old").unwrap(); // 64..99
        s.store(1, b"new").unwrap(); // 99..134
        s.store_batch(&[(2, b"b2"), (3, b"b3")]).unwrap(); // 134..266
        drop(s);
        let log = t.path().join("wal-0000000000000001.log");
        let mut bytes = std::fs::read(&log).unwrap();
        assert_eq!(bytes.len(), 266);
        bytes[99 + 32] ^= 1; // "new"
        bytes[166 + 32] ^= 1; // the batch's first entry
        std::fs::write(&log, &bytes).unwrap();
        let mut o = Options::default();
        o.set_recovery(mode).set_auto_snapshot(false);
        let s = Store::open(t.path(), &o).unwrap();
        let tail = s.open_report().torn_tail.clone().unwrap();
        assert_eq!((tail.offset, tail.bytes), (99, 167), "{mode:?}");
        assert_eq!(s.damaged_ids(), Vec::<u64>::new());
        assert_eq!(s.retrieve(1).unwrap(), b"old");
        assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::NotFound);
        drop(s);
        let s = Store::open(t.path(), &o).unwrap();
        assert_eq!(s.open_report().torn_tail, None);
        assert_eq!(s.retrieve(1).unwrap(), b"old");
    }
}

/// A range delete whose payload is damaged is judged like any damaged
/// record (its bytes are not read as a range): here its only evidence lies
/// in the tail, so it is part of the tail, in every mode.
#[test]
fn a_damaged_range_delete_with_its_evidence_in_the_tail_is_cut() {
    use walstore::format::{encode_record, FileHeader, RecordType};
    let id = 0x5eed_u64;
    let header = FileHeader {
        log_id: id,
        generation: 1,
        base_seq: 0,
        folded_seq: 0,
        preallocated: false,
    };
    let mut log = header.encode().to_vec();
    encode_record(
        &mut log,
        id,
        RecordType::DeleteRange,
        1,
        10,
        &20u64.to_le_bytes(),
    ); // 64..104
    encode_record(&mut log, id, RecordType::Put, 2, 7, b"p"); // 104..137
    encode_record(&mut log, id, RecordType::Put, 2, 8, b"q"); // 137..170, evidence for 64 only
    assert_eq!(log.len(), 170);
    log[64 + 32] = 4; // the range's end now reads 4, below its start: damage
    log[104 + 32] ^= 1; // "p": damage with no evidence after it
    for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
        let t = TempDir::new().unwrap();
        std::fs::write(t.path().join("wal-0000000000000001.log"), &log).unwrap();
        std::fs::write(t.path().join("LOCK"), b"").unwrap();
        let mut o = Options::default();
        o.set_recovery(mode).set_auto_snapshot(false);
        let s = Store::open(t.path(), &o).unwrap();
        let tail = s.open_report().torn_tail.clone().unwrap();
        assert_eq!((tail.offset, tail.bytes), (64, 106), "{mode:?}");
        assert_eq!(s.len(), 0);
        // Numbering goes on above the cut records' numbers.
        assert_eq!(s.store_seq(1, b"x").unwrap(), 3);
        drop(s);
        let s = Store::open(t.path(), &o).unwrap();
        assert_eq!(s.open_report().torn_tail, None);
        assert_eq!(s.retrieve(1).unwrap(), b"x");
    }
}
