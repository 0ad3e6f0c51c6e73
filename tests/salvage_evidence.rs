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
