//! `walstore verify`: exact reports and exit codes on clean, damaged,
//! snapshotted, locked and missing stores. Every run also checks that the
//! store directory is byte-for-byte unchanged.

#[allow(dead_code)]
mod common;

use common::*;
use std::fs;
use walstore::format::{decode_header, RecordHeaderError};
use walstore::{Options, Store};

#[test]
fn a_clean_store_exits_0_with_a_summary() {
    let (_tmp, dir) = clean_store();
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (589 bytes)\n\
             snapshots: none\n\
             records: 5 stores, 1 delete, 1 batch\n\
             bytes: 589 in the log: 64 header, 525 in intact records, 0 damaged\n\
             result: clean\n",
            log_path(&dir).display()
        )
    );
    assert_eq!(run.stderr, "");
    assert_eq!(run.code, 0);
}

#[test]
fn an_empty_store_is_clean() {
    let (_tmp, dir) = store_with(|_| {});
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (64 bytes)\n\
             snapshots: none\n\
             records: 0 stores, 0 deletes, 0 batches\n\
             bytes: 64 in the log: 64 header, 0 in intact records, 0 damaged\n\
             result: clean\n",
            log_path(&dir).display()
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
}

#[test]
fn two_damaged_payloads_and_a_torn_tail_are_three_regions() {
    let (_tmp, dir) = damaged_six();
    let (bad2, bad4) = damaged_payloads();

    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (294 bytes)\n\
             damage at offset 101 (45 bytes, id 2): payload CRC mismatch in the Put record \
             of id 2: expected {}, actual {}\n\
             damage at offset 185 (37 bytes, id 4): payload CRC mismatch in the Put record \
             of id 4: expected {}, actual {}\n\
             damage at offset 258 (36 bytes, id unknown, torn tail: a writable open saves it \
             to a side file and cuts it): incomplete record at the end of the log\n\
             snapshots: none\n\
             records: 3 stores, 0 deletes, 0 batches\n\
             bytes: 294 in the log: 64 header, 112 in intact records, 118 damaged\n\
             result: DAMAGED: 3 damaged regions, 118 bytes (the last is a torn tail)\n",
            log_path(&dir).display(),
            crc(&dir, b"bravo-payload"),
            crc(&dir, &bad2),
            crc(&dir, b"delta"),
            crc(&dir, &bad4),
        )
    );
    assert_eq!(run.stderr, "");
    assert_eq!(run.code, 1);
}

#[test]
fn a_damaged_record_header_has_no_trusted_id() {
    let (_tmp, dir) = six_puts();
    flip(&dir, 146 + 4); // the length field of id 3's header
    let log = fs::read(log_path(&dir)).unwrap();
    let Err(RecordHeaderError::BadCrc { expected, actual }) =
        decode_header(&log[146..178], log_id(&dir))
    else {
        panic!("the header should fail its CRC");
    };
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (297 bytes)\n\
             damage at offset 146 (39 bytes, id unknown): record header CRC mismatch: \
             expected {expected:#010x}, actual {actual:#010x}\n\
             snapshots: none\n\
             records: 5 stores, 0 deletes, 0 batches\n\
             bytes: 297 in the log: 64 header, 194 in intact records, 39 damaged\n\
             result: DAMAGED: 1 damaged region, 39 bytes\n",
            log_path(&dir).display(),
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}

#[test]
fn a_torn_tail_alone_is_damage_and_stays_in_place() {
    let (_tmp, dir) = six_puts();
    // Half a record header after the last record.
    let mut log = fs::read(log_path(&dir)).unwrap();
    log.extend_from_slice(&[1, 0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    fs::write(log_path(&dir), &log).unwrap();
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (313 bytes)\n\
             damage at offset 297 (16 bytes, id unknown, torn tail: a writable open saves it \
             to a side file and cuts it): incomplete record at the end of the log\n\
             snapshots: none\n\
             records: 6 stores, 0 deletes, 0 batches\n\
             bytes: 313 in the log: 64 header, 233 in intact records, 16 damaged\n\
             result: DAMAGED: 1 damaged region, 16 bytes (the last is a torn tail)\n",
            log_path(&dir).display(),
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}

#[test]
fn snapshot_verdicts_valid_and_rejected() {
    let (_tmp, dir) = store_with(|s| {
        s.store(1, b"one").unwrap(); // 64..99
        assert_eq!(s.snapshot().unwrap(), 99);
        s.store(2, b"two").unwrap(); // 99..134
    });
    let snap = dir.join(walstore::format::names::snapshot_file_name(1, 99));
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (134 bytes)\n\
             snapshot {}: valid, covers the log up to offset 99\n\
             records: 2 stores, 0 deletes, 0 batches\n\
             bytes: 134 in the log: 64 header, 70 in intact records, 0 damaged\n\
             result: clean\n",
            log_path(&dir).display(),
            snap.display()
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));

    // Damage the snapshot: the log is fine, the snapshot is rejected, and
    // verify gives the reason an open gives.
    let mut bytes = fs::read(&snap).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    fs::write(&snap, bytes).unwrap();
    let why = with_open(&dir, &read_only(false), |s| {
        let rejected = &s.unwrap().open_report().snapshots_rejected;
        assert_eq!(rejected.len(), 1);
        rejected[0]
            .strip_prefix(&format!("{}: ", snap.display()))
            .unwrap()
            .to_owned()
    });
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (134 bytes)\n\
             snapshot {}: REJECTED: {why}\n\
             records: 2 stores, 0 deletes, 0 batches\n\
             bytes: 134 in the log: 64 header, 70 in intact records, 0 damaged\n\
             result: DAMAGED: 1 of 1 snapshot rejected\n",
            log_path(&dir).display(),
            snap.display()
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}

#[test]
fn a_damaged_file_header_stops_the_walk() {
    let (_tmp, dir) = six_puts();
    flip(&dir, 20); // inside the log identity: the header CRC fails
    let open_error = with_open(&dir, &read_only(false), |s| s.unwrap_err().to_string());
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (297 bytes)\n\
             log header: DAMAGED: {open_error}\n\
             result: DAMAGED: the log header is unusable, so no record was checked\n",
            log_path(&dir).display(),
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}

#[test]
fn a_store_held_by_a_writer_exits_3_without_waiting() {
    let (_tmp, dir) = clean_store();
    let writer = Store::open(&dir, &Options::default()).unwrap();
    // Were verify to wait for the lock, this would never return: the lock
    // is released only after it.
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
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
    assert_eq!(
        walstore(&dir, &["verify".as_ref(), dir.as_os_str()]).code,
        0
    );
}

#[test]
fn a_directory_that_is_not_a_store_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = walstore(dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run,
        Run {
            code: 4,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot verify the store in {d}: open {d}/LOCK: No such file or \
                 directory (os error 2)\n\
                 walstore: {d} has no LOCK file: it is not a walstore directory, or no \
                 writable open has used it yet\n",
                d = dir.display()
            ),
        }
    );
    // A LOCK but no log.
    fs::write(dir.join("LOCK"), b"").unwrap();
    let run = walstore(dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run,
        Run {
            code: 4,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot verify the store in {d}: verify {d}: no walstore log in \
                 this directory\n",
                d = dir.display()
            ),
        }
    );
}

#[test]
fn damage_that_a_snapshot_hides_from_an_open_is_found() {
    let (_tmp, dir) = rotted_under_a_snapshot();
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (171 bytes)\n\
             damage at offset 64 (35 bytes, id 1): payload CRC mismatch in the Put record of \
             id 1: expected {}, actual {}\n\
             snapshot {}: valid, covers the log up to offset 134\n\
             records: 2 stores, 0 deletes, 0 batches\n\
             bytes: 171 in the log: 64 header, 72 in intact records, 35 damaged\n\
             result: DAMAGED: 1 damaged region, 35 bytes\n",
            log_path(&dir).display(),
            crc(&dir, b"one"),
            crc(&dir, b"ooe"),
            dir.join("snapshot-0000000000000001-0000000000000086.snap")
                .display(),
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    // 20 records of exactly 1 MiB: a log over the 16 MiB at which a
    // terminal gets a bar. Here stderr is a pipe: it stays empty.
    let payload = vec![0x5a; (1 << 20) - 32];
    let (_tmp, dir) = store_with(|s| {
        for id in 0..20 {
            s.store(id, &payload).unwrap();
        }
    });
    let run = walstore(&dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        (run.code, run.stderr.as_str(), run.stdout_text()),
        (
            0,
            "",
            format!(
                "log: {} (20971584 bytes)\n\
                 snapshots: none\n\
                 records: 20 stores, 0 deletes, 0 batches\n\
                 bytes: 20971584 in the log: 64 header, 20971520 in intact records, 0 damaged\n\
                 result: clean\n",
                log_path(&dir).display()
            )
        )
    );
}

#[test]
fn a_progress_bar_on_a_terminal() {
    // script(1) (util-linux, essential on Debian) runs the command on a
    // pseudo-terminal and copies what it shows to its own stdout, with the
    // terminal's \n -> \r\n. verify reports progress every 4 MiB.
    let payload = vec![0x5a; (1 << 20) - 32];
    let (_tmp, dir) = store_with(|s| {
        for id in 0..20 {
            s.store(id, &payload).unwrap();
        }
    });
    let command = format!(
        "{} verify {}",
        env!("CARGO_BIN_EXE_walstore"),
        dir.display()
    );
    let before = picture(&dir);
    let guard = serialised();
    let out = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux runs");
    drop(guard);
    assert_eq!(picture(&dir), before);
    assert_eq!(out.status.code(), Some(0));
    let bar = |filled: usize, pct: u32, mib: u32| {
        format!(
            "\rverifying [{}{}] {pct:>3}%  {mib}.0 of 20.0 MiB",
            "#".repeat(filled),
            ".".repeat(30 - filled)
        )
    };
    // The offsets reached are 64 + 4, 8, 12 and 16 MiB, just over 20%,
    // 40%, 60% and 80% of the 64 + 20 MiB log; the bar is erased at the end.
    let expected = format!(
        "{}{}{}{}\r\x1b[2K\
         log: {} (20971584 bytes)\r\n\
         snapshots: none\r\n\
         records: 20 stores, 0 deletes, 0 batches\r\n\
         bytes: 20971584 in the log: 64 header, 20971520 in intact records, 0 damaged\r\n\
         result: clean\r\n",
        bar(6, 20, 4),
        bar(12, 40, 8),
        bar(18, 60, 12),
        bar(24, 80, 16),
        log_path(&dir).display()
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn a_log_without_its_complete_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("LOCK"), b"").unwrap();
    fs::write(dir.join(LOG), b"WALST").unwrap();
    let run = walstore(dir, &["verify".as_ref(), dir.as_os_str()]);
    assert_eq!(
        run.stdout_text(),
        format!(
            "log: {} (5 bytes)\n\
             log header: DAMAGED: the log never got its complete header (a crash while it \
             was created)\n\
             result: DAMAGED: the log header is unusable, so no record was checked\n",
            log_path(dir).display(),
        )
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
}
