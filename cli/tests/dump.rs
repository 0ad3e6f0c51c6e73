//! `walstore dump`: ids and lengths in id order, payloads in hex, damaged
//! entries on stderr with exit 1, locked. Every run also checks that the
//! store directory is byte-for-byte unchanged.

#[allow(dead_code)]
mod common;

use common::*;
use std::ffi::OsStr;
use std::path::Path;
use walstore::{Options, Store};

fn dump(dir: &Path, flags: &[&str]) -> Run {
    let mut all: Vec<&OsStr> = vec!["dump".as_ref()];
    all.extend(flags.iter().map(|a| OsStr::new(*a)));
    all.push(dir.as_os_str());
    walstore(dir, &all)
}

#[test]
fn ids_and_lengths_in_id_order() {
    // Stored out of order, one overwritten: dump lists the live ids sorted.
    let (_tmp, dir) = store_with(|s| {
        s.store(30, b"thirty").unwrap();
        s.store(u64::MAX, b"max").unwrap();
        s.store(0, b"").unwrap();
        s.store(7, b"x").unwrap();
        s.store(30, b"thirty, again").unwrap();
    });
    assert_eq!(
        dump(&dir, &[]),
        Run {
            code: 0,
            stdout: b"id 0: 0 bytes\n\
                      id 7: 1 byte\n\
                      id 30: 13 bytes\n\
                      id 18446744073709551615: 3 bytes\n"
                .to_vec(),
            stderr: String::new(),
        }
    );
}

#[test]
fn hex_shows_every_payload_byte() {
    let (_tmp, dir) = clean_store();
    let all_bytes: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        dump(&dir, &["--hex"]),
        Run {
            code: 0,
            stdout: format!(
                "id 1: 5 bytes: 68656c6c6f\n\
                 id 3: 5 bytes: 7468726565\n\
                 id 4: 0 bytes\n\
                 id 5: 256 bytes: {all_bytes}\n"
            )
            .into_bytes(),
            stderr: String::new(),
        }
    );
}

#[test]
fn an_empty_store_lists_nothing() {
    let (_tmp, dir) = store_with(|_| {});
    assert_eq!(
        dump(&dir, &["--hex"]),
        Run {
            code: 0,
            stdout: Vec::new(),
            stderr: String::new(),
        }
    );
}

#[test]
fn damaged_entries_go_to_stderr_and_exit_1() {
    let (_tmp, dir) = damaged_six();
    let (bad2, bad4) = damaged_payloads();
    let d = dir.display();
    let log = log_path(&dir);
    // STRICT refuses the store, as for stats and get.
    let strict = dump(&dir, &[]);
    assert_eq!((strict.code, strict.stdout.as_slice()), (1, &b""[..]));
    assert_eq!(
        strict.stderr,
        format!(
            "walstore: cannot open the store in {d}: corruption in {} at offset 101: payload \
             CRC mismatch in the Put record of id 2: expected {}, actual {}; a valid record \
             follows at offset 146, so this is damage, not a torn tail\n\
             walstore: a STRICT open refuses a log with damage before its last valid record. \
             `walstore verify {d}` lists every damaged region; `walstore dump --salvage {d}` \
             opens the store with the damaged ids marked\n",
            log.display(),
            crc(&dir, b"bravo-payload"),
            crc(&dir, &bad2),
        )
    );
    // SALVAGE: the intact entries on stdout, each damaged one on stderr.
    assert_eq!(
        dump(&dir, &["--salvage", "--hex"]),
        Run {
            code: 1,
            stdout: b"id 1: 5 bytes: 616c706861\n\
                      id 3: 7 bytes: 636861726c6965\n\
                      id 5: 4 bytes: 6563686f\n"
                .to_vec(),
            stderr: format!(
                "walstore: cannot read an entry: corruption in {log} at offset 101: id 2 is \
                 damaged (its newest record failed its check at the SALVAGE open): payload of \
                 id 2: CRC mismatch: expected {}, actual {}\n\
                 walstore: cannot read an entry: corruption in {log} at offset 185: id 4 is \
                 damaged (its newest record failed its check at the SALVAGE open): payload of \
                 id 4: CRC mismatch: expected {}, actual {}\n\
                 walstore: 2 of 5 entries could not be read; `walstore verify {d}` lists every \
                 damaged region\n",
                crc(&dir, b"bravo-payload"),
                crc(&dir, &bad2),
                crc(&dir, b"delta"),
                crc(&dir, &bad4),
                log = log.display(),
            ),
        }
    );
}

#[test]
fn damage_found_while_reading_is_reported() {
    let (_tmp, dir) = rotted_under_a_snapshot();
    assert_eq!(
        dump(&dir, &[]),
        Run {
            code: 1,
            stdout: b"id 2: 3 bytes\nid 3: 5 bytes\n".to_vec(),
            stderr: format!(
                "walstore: cannot read an entry: corruption in {} at offset 64: payload of id \
                 1: CRC mismatch: expected {}, actual {}\n\
                 walstore: 1 of 3 entries could not be read; `walstore verify {}` lists every \
                 damaged region\n",
                log_path(&dir).display(),
                crc(&dir, b"one"),
                crc(&dir, b"ooe"),
                dir.display(),
            ),
        }
    );
}

#[test]
fn a_store_held_by_a_writer_exits_3() {
    let (_tmp, dir) = clean_store();
    let writer = Store::open(&dir, &Options::default()).unwrap();
    assert_eq!(
        dump(&dir, &[]),
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
