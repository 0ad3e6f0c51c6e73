//! `walstore compact`: the one command that changes a store. Exact report,
//! the new generation on disk with the same contents, refusals that leave
//! the directory untouched (locked, missing, damaged under STRICT), and a
//! SALVAGE compaction that keeps a damaged id damaged.

#[allow(dead_code)]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use walstore::{ErrorKind, Options, RecoveryMode, Store};

fn compact(dir: &Path, salvage: bool) -> Run {
    let mut args = vec!["compact".as_ref(), dir.as_os_str()];
    if salvage {
        args.push("--salvage".as_ref());
    }
    walstore_anywhere(&args)
}

/// The report without its timing line.
fn without_time(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with("took:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn contents(dir: &Path, salvage: bool) -> BTreeMap<u64, Result<Vec<u8>, ErrorKind>> {
    let mut o = read_only(salvage);
    o.set_auto_snapshot(false);
    with_open(dir, &o, |s| {
        let s = s.unwrap();
        (0..8u64)
            .filter_map(|id| match s.retrieve(id) {
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                r => Some((id, r.map_err(|e| e.kind()))),
            })
            .collect()
    })
}

fn names(dir: &Path) -> Vec<String> {
    picture(dir).into_keys().collect()
}

#[test]
fn a_clean_store_is_compacted_and_reads_the_same() {
    let (_tmp, dir) = clean_store();
    let before = contents(&dir, false);
    let run = compact(&dir, false);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    // Live: ids 1, 3, 4, 5: 37 + 37 + 32 + 288 record bytes after the
    // 64-byte header. The batch framing, id 2's store and its tombstone
    // (131 bytes) are gone. The last of the 8 records was number 8.
    assert_eq!(
        without_time(&run.stdout_text()),
        format!(
            "store:            {}\n\
             generation:       1 -> 2\n\
             log bytes:        589 -> 458 (131 reclaimed, 22.2%)\n\
             live ids:         4\n\
             folded sequence:  8\n",
            dir.display()
        )
    );
    assert!(run
        .stdout_text()
        .lines()
        .last()
        .unwrap()
        .starts_with("took:             "));
    assert_eq!(names(&dir), vec!["LOCK", "wal-0000000000000002.log"]);
    assert_eq!(
        std::fs::metadata(dir.join("wal-0000000000000002.log"))
            .unwrap()
            .len(),
        458
    );
    assert_eq!(contents(&dir, false), before);
    // A second run has nothing left to reclaim.
    let run = compact(&dir, false);
    assert_eq!(run.code, 0);
    assert!(run.stdout_text().contains("generation:       2 -> 3\n"));
    assert!(run
        .stdout_text()
        .contains("log bytes:        458 -> 458 (0 reclaimed, 0.0%)\n"));
    assert_eq!(contents(&dir, false), before);
}

#[test]
fn a_locked_store_is_left_alone() {
    let (_tmp, dir) = clean_store();
    let _g = serialised();
    let writer = Store::open(&dir, &Options::default()).unwrap();
    drop(_g);
    let before = picture(&dir);
    let run = compact(&dir, false);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        format!(
            "walstore: store is locked by a writer: {} is held by a writable open. walstore \
             never waits for it: run it again once the writer has closed the store\n",
            dir.join("LOCK").display()
        )
    );
    assert_eq!(picture(&dir), before);
    close(writer);
}

#[test]
fn a_missing_directory_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nowhere");
    let run = compact(&dir, false);
    assert_eq!(run.code, 4);
    assert!(run.stderr.starts_with(&format!(
        "walstore: cannot open the store in {}: ",
        dir.display()
    )));
    assert!(!dir.exists());
}

#[test]
fn strict_refuses_a_damaged_store_and_salvage_keeps_the_damage_marked() {
    let (_tmp, dir) = damaged_six();
    let before = picture(&dir);
    let run = compact(&dir, false);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "`walstore compact --salvage {}` opens the store with the damaged ids marked",
            dir.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(picture(&dir), before);

    let run = compact(&dir, true);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert!(run.stdout_text().contains("generation:       1 -> 2\n"));
    // Ids 2 and 4 stay damaged; id 6 went with the torn tail.
    let mut o = Options::default();
    o.set_read_only(true).set_recovery(RecoveryMode::Strict);
    with_open(&dir, &o, |s| {
        let s = s.unwrap();
        assert_eq!(s.damaged_ids(), vec![2, 4]);
        assert_eq!(s.retrieve(1).unwrap(), b"alpha");
        assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::Corruption);
        assert_eq!(s.retrieve(6).unwrap_err().kind(), ErrorKind::NotFound);
    });
}
