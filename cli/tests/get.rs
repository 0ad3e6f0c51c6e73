//! `walstore get`: exact payload bytes on stdout (text, every byte value,
//! empty), not found, corruption at open and at read, locked. Every run
//! also checks that the store directory is byte-for-byte unchanged.

#[allow(dead_code)]
mod common;

use common::*;
use std::ffi::OsStr;
use std::path::Path;
use walstore::{Options, Store};

fn get(dir: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&OsStr> = vec!["get".as_ref(), dir.as_os_str()];
    all.extend(args.iter().map(|a| OsStr::new(*a)));
    walstore(dir, &all)
}

fn ok(stdout: &[u8]) -> Run {
    Run {
        code: 0,
        stdout: stdout.to_vec(),
        stderr: String::new(),
    }
}

#[test]
fn payloads_come_out_byte_for_byte() {
    let (_tmp, dir) = clean_store();
    assert_eq!(get(&dir, &["1"]), ok(b"hello"));
    assert_eq!(get(&dir, &["3"]), ok(b"three"));
    // Every byte value, newlines and NULs included, nothing added.
    assert_eq!(get(&dir, &["5"]), ok(&(0..=255u8).collect::<Vec<u8>>()));
    // The empty payload: nothing on stdout, and success.
    assert_eq!(get(&dir, &["4"]), ok(b""));
    // Ids in hexadecimal.
    assert_eq!(get(&dir, &["0x5"]).stdout.len(), 256);
    assert_eq!(get(&dir, &["0X01"]), ok(b"hello"));
}

#[test]
fn a_missing_id_exits_1() {
    let (_tmp, dir) = clean_store();
    let not_found = |id: &str| Run {
        code: 1,
        stdout: Vec::new(),
        stderr: format!("walstore: id {id} not found in {}\n", dir.display()),
    };
    assert_eq!(get(&dir, &["2"]), not_found("2")); // deleted
    assert_eq!(get(&dir, &["6"]), not_found("6")); // never stored
    assert_eq!(
        get(&dir, &["18446744073709551615"]),
        not_found("18446744073709551615")
    );
}

#[test]
fn corruption_found_at_read_names_offset_and_crcs() {
    let (_tmp, dir) = rotted_under_a_snapshot();
    let d = dir.display();
    // The open trusts the snapshot, so only the read of id 1 checks it.
    assert_eq!(
        get(&dir, &["1"]),
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot read id 1: corruption in {} at offset 64: payload of id 1: \
                 CRC mismatch: expected {}, actual {}\n\
                 walstore: `walstore verify {d}` lists every damaged region\n",
                log_path(&dir).display(),
                crc(&dir, b"one"),
                crc(&dir, b"ooe"),
            ),
        }
    );
    assert_eq!(get(&dir, &["2"]), ok(b"two"));
    assert_eq!(get(&dir, &["3"]), ok(b"three"));
}

#[test]
fn a_damaged_store_needs_salvage_and_damaged_ids_stay_unreadable() {
    let (_tmp, dir) = damaged_six();
    let (bad2, bad4) = damaged_payloads();
    let d = dir.display();
    let log = log_path(&dir);
    // STRICT refuses the store.
    assert_eq!(
        get(&dir, &["1"]),
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot open the store in {d}: corruption in {} at offset 101: \
                 payload CRC mismatch in the Put record of id 2: expected {}, actual {}; a \
                 valid record follows at offset 146, so this is damage, not a torn tail\n\
                 walstore: a STRICT open refuses a log with damage before its last valid \
                 record. `walstore verify {d}` lists every damaged region; `walstore get \
                 --salvage {d}` opens the store with the damaged ids marked\n",
                log.display(),
                crc(&dir, b"bravo-payload"),
                crc(&dir, &bad2),
            ),
        }
    );
    // SALVAGE reads the intact ids...
    for (id, payload) in [("1", "alpha"), ("3", "charlie"), ("5", "echo")] {
        assert_eq!(get(&dir, &["--salvage", id]), ok(payload.as_bytes()));
    }
    // ...and refuses the damaged ones, never serving their bytes.
    assert_eq!(
        get(&dir, &["4", "--salvage"]),
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!(
                "walstore: cannot read id 4: corruption in {} at offset 185: id 4 is damaged \
                 (its newest record failed its check at the SALVAGE open): payload of id 4: \
                 CRC mismatch: expected {}, actual {}\n\
                 walstore: `walstore verify {d}` lists every damaged region\n",
                log.display(),
                crc(&dir, b"delta"),
                crc(&dir, &bad4),
            ),
        }
    );
    // Id 6 is in the torn tail, which a read-only open ignores.
    assert_eq!(
        get(&dir, &["--salvage", "6"]),
        Run {
            code: 1,
            stdout: Vec::new(),
            stderr: format!("walstore: id 6 not found in {d}\n"),
        }
    );
}

#[test]
fn a_store_held_by_a_writer_exits_3() {
    let (_tmp, dir) = clean_store();
    let writer = Store::open(&dir, &Options::default()).unwrap();
    assert_eq!(
        get(&dir, &["1"]),
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
    assert_eq!(get(&dir, &["1"]), ok(b"hello"));
}

#[test]
fn read_only_opens_share_the_store() {
    // Another reader holding the shared lock does not stop walstore.
    let (_tmp, dir) = clean_store();
    let reader = Store::open(&dir, &read_only(false)).unwrap();
    assert_eq!(get(&dir, &["1"]), ok(b"hello"));
    close(reader);
}
