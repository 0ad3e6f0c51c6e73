//! `walstore stats`: exact numbers from read-only opens (STRICT and
//! SALVAGE), a torn tail left in place, a STRICT open refused, locked and
//! missing stores. Every run also checks that the store directory is
//! byte-for-byte unchanged.

#[allow(dead_code)]
mod common;

use common::*;
use std::path::Path;
use walstore::{Options, Store};

/// What the library itself reports for the index of this store.
fn index_memory_bytes(dir: &Path, salvage: bool) -> usize {
    with_open(dir, &read_only(salvage), |s| {
        s.unwrap().index_memory_bytes()
    })
}

#[test]
fn a_clean_store() {
    let (_tmp, dir) = clean_store();
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    // Live: ids 1, 3, 4, 5 with 5 + 5 + 0 + 256 payload bytes. Of the 525
    // record bytes, 266 + 4 * 32 serve them; 131 do not (id 2's store and
    // delete, the batch's begin and commit).
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             opened:              read-only, STRICT recovery\n\
             live ids:            4\n\
             live payload bytes:  266\n\
             log bytes:           589\n\
             dead bytes:          131 (25.0% of the record bytes serve no live id)\n\
             snapshot position:   64\n\
             index memory bytes:  {}\n\
             records replayed:    6\n\
             damaged records:     0\n\
             snapshot used:       none (the open replayed the whole log)\n\
             torn tail:           none\n",
            dir.display(),
            log_path(&dir).display(),
            index_memory_bytes(&dir, false),
        )
    );
}

#[test]
fn a_store_opened_from_its_snapshot() {
    let (_tmp, dir) = rotted_under_a_snapshot();
    // The open loads the snapshot at 134 and replays only id 3's record, so
    // it does not see the damage to id 1 (verify and get do).
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             opened:              read-only, STRICT recovery\n\
             live ids:            3\n\
             live payload bytes:  11\n\
             log bytes:           171\n\
             dead bytes:          0 (0.0% of the record bytes serve no live id)\n\
             snapshot position:   134\n\
             index memory bytes:  {}\n\
             records replayed:    1\n\
             damaged records:     0\n\
             snapshot used:       up to offset 134 (the open replayed the log after it)\n\
             torn tail:           none\n",
            dir.display(),
            log_path(&dir).display(),
            index_memory_bytes(&dir, false),
        )
    );
}

#[test]
fn a_rejected_snapshot_is_listed() {
    let (_tmp, dir) = store_with(|s| {
        s.store(1, b"one").unwrap();
        assert_eq!(s.snapshot().unwrap(), 99);
    });
    let snap = dir.join("snapshot-0000000000000001-0000000000000063.snap");
    std::fs::write(&snap, b"not a snapshot").unwrap();
    let why = with_open(&dir, &read_only(false), |s| {
        s.unwrap().open_report().snapshots_rejected.clone()
    });
    assert_eq!(why.len(), 1);
    assert!(why[0].starts_with(&format!("{}: ", snap.display())));
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             opened:              read-only, STRICT recovery\n\
             live ids:            1\n\
             live payload bytes:  3\n\
             log bytes:           99\n\
             dead bytes:          0 (0.0% of the record bytes serve no live id)\n\
             snapshot position:   64\n\
             index memory bytes:  {}\n\
             records replayed:    1\n\
             damaged records:     0\n\
             snapshot used:       none (the open replayed the whole log)\n\
             snapshot rejected:   {}\n\
             torn tail:           none\n",
            dir.display(),
            log_path(&dir).display(),
            index_memory_bytes(&dir, false),
            why[0],
        )
    );
}

#[test]
fn a_torn_tail_is_reported_and_left_in_place() {
    let (_tmp, dir) = six_puts();
    truncate(&dir, 294); // id 6's record loses its last 3 bytes
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             opened:              read-only, STRICT recovery\n\
             live ids:            5\n\
             live payload bytes:  34\n\
             log bytes:           258\n\
             dead bytes:          0 (0.0% of the record bytes serve no live id)\n\
             snapshot position:   64\n\
             index memory bytes:  {}\n\
             records replayed:    5\n\
             damaged records:     0\n\
             snapshot used:       none (the open replayed the whole log)\n\
             torn tail:           36 bytes at offset 258 (left in place: a writable open \
             saves it to a side file and cuts it)\n",
            dir.display(),
            log_path(&dir).display(),
            index_memory_bytes(&dir, false),
        )
    );
}

#[test]
fn a_strict_open_of_a_damaged_store_fails_and_points_to_verify() {
    let (_tmp, dir) = damaged_six();
    let (bad2, _) = damaged_payloads();
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    let d = dir.display();
    assert_eq!(
        run,
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot open the store in {d}: corruption in {} at offset 101: \
                 payload CRC mismatch in the Put record of id 2: expected {}, actual {}; a \
                 valid record follows at offset 146, so this is damage, not a torn tail\n\
                 walstore: a STRICT open refuses a log with damage before its last valid \
                 record. `walstore verify {d}` lists every damaged region; `walstore stats \
                 --salvage {d}` opens the store with the damaged ids marked\n",
                log_path(&dir).display(),
                crc(&dir, b"bravo-payload"),
                crc(&dir, &bad2),
            ),
        }
    );
}

#[test]
fn a_salvage_open_marks_the_damaged_ids() {
    let (_tmp, dir) = damaged_six();
    let run = walstore(
        &dir,
        &["stats".as_ref(), "--salvage".as_ref(), dir.as_os_str()],
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    // Ids 1 to 5 replayed, 2 and 4 damaged (their lengths still count);
    // id 6 is the torn tail.
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             opened:              read-only, SALVAGE recovery\n\
             live ids:            5\n\
             damaged ids:         2, 4\n\
             live payload bytes:  34\n\
             log bytes:           258\n\
             dead bytes:          0 (0.0% of the record bytes serve no live id)\n\
             snapshot position:   64\n\
             index memory bytes:  {}\n\
             records replayed:    5\n\
             damaged records:     2\n\
             snapshot used:       none (the open replayed the whole log)\n\
             torn tail:           36 bytes at offset 258 (left in place: a writable open \
             saves it to a side file and cuts it)\n",
            dir.display(),
            log_path(&dir).display(),
            index_memory_bytes(&dir, true),
        )
    );
}

#[test]
fn damage_salvage_cannot_pass_fails_with_a_hint() {
    let (_tmp, dir) = six_puts();
    flip(&dir, 146 + 4); // id 3's record header: its id cannot be trusted
    let open_error = with_open(&dir, &read_only(true), |s| s.unwrap_err().to_string());
    let run = walstore(
        &dir,
        &["stats".as_ref(), "--salvage".as_ref(), dir.as_os_str()],
    );
    assert_eq!(
        run,
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot open the store in {d}: {open_error}\n\
                 walstore: SALVAGE passes over only damaged records whose header is intact. \
                 `walstore verify {d}` lists every damaged region\n",
                d = dir.display()
            ),
        }
    );
}

#[test]
fn a_store_held_by_a_writer_exits_3() {
    let (_tmp, dir) = clean_store();
    let writer = Store::open(&dir, &Options::default()).unwrap();
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run,
        Run {
            code: 3,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: store is locked by a writer: {} is held by a writable open. \
                 walstore never waits for it: run it again once the writer has closed the \
                 store\n",
                dir.join("LOCK").display()
            ),
        }
    );
    close(writer);
}

#[test]
fn a_missing_directory_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing-here");
    let run = walstore(&dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run,
        Run {
            code: 4,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot open the store in {d}: open {d}: No such file or directory \
                 (os error 2)\n",
                d = dir.display()
            ),
        }
    );
    assert!(!dir.exists(), "a read-only open creates nothing");
}

#[test]
fn a_log_without_its_complete_header_is_an_empty_store() {
    // What a crash while the first open created the log leaves: LOCK and a
    // prefix of the log's header.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("LOCK"), b"").unwrap();
    std::fs::write(dir.join(LOG), b"WALST").unwrap();
    let run = walstore(dir, &["stats".as_ref(), dir.as_os_str()]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(
        without_open_time(&run.stdout_text()),
        format!(
            "store:               {}\n\
             log:                 {}\n\
             log header:          incomplete (a crash while the log was created): no record; \
             a writable open starts the log afresh\n\
             opened:              read-only, STRICT recovery\n\
             live ids:            0\n\
             live payload bytes:  0\n\
             log bytes:           5\n\
             dead bytes:          0 (0.0% of the record bytes serve no live id)\n\
             snapshot position:   64\n\
             index memory bytes:  {}\n\
             records replayed:    0\n\
             damaged records:     0\n\
             snapshot used:       none (the open replayed the whole log)\n\
             torn tail:           none\n",
            dir.display(),
            log_path(dir).display(),
            index_memory_bytes(dir, false),
        )
    );
}
