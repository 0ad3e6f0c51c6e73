//! Compaction through the safe API: what it reclaims, that the store reads
//! exactly the same before and after it and after reopening (with and
//! without snapshots, in every order with deletes), damaged ids, change
//! cursors across it, and readers and writers running during it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use walstore::{Change, Durability, ErrorKind, Options, RecoveryMode, Store, WriteBatch};
mod common;
use common::{tmp, wait_for};

type Model = BTreeMap<u64, Vec<u8>>;

fn opts(d: Durability) -> Options {
    let mut o = Options::default();
    o.set_durability(d).set_auto_snapshot(false);
    o
}

/// Names in the store directory other than LOCK, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "LOCK")
        .collect();
    v.sort();
    v
}

fn contents(s: &Store) -> Model {
    s.iter().map(|r| r.unwrap()).collect()
}

fn assert_state(s: &Store, want: &Model, probe: impl IntoIterator<Item = u64>) {
    assert_eq!(&contents(s), want);
    assert_eq!(s.len(), want.len());
    for id in probe {
        match want.get(&id) {
            Some(v) => assert_eq!(&s.retrieve(id).unwrap(), v, "id {id}"),
            None => assert_eq!(
                s.retrieve(id).unwrap_err().kind(),
                ErrorKind::NotFound,
                "id {id}"
            ),
        }
    }
}

fn value(id: u64, version: u64) -> Vec<u8> {
    let mut v = format!("id {id} version {version} ").into_bytes();
    v.resize(100, b'.');
    v
}

#[test]
fn compaction_reclaims_overwritten_and_deleted_payloads() {
    let t = tmp();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    let mut want = Model::new();
    // 1,000 ids, each written 10 times: 90% of the payloads are dead.
    for version in 0..10 {
        for id in 0..1000u64 {
            s.store(id, &value(id, version)).unwrap();
            want.insert(id, value(id, version));
        }
    }
    for id in (0..1000).step_by(10) {
        s.delete(id).unwrap();
        want.remove(&id);
    }
    s.delete_range(990, 2000).unwrap();
    for id in 990..1000 {
        want.remove(&id);
    }
    let before = s.stats();
    let last_seq = s.cursor().seq();
    let r = s.compact().unwrap();
    assert_eq!(r.generation, 2);
    assert_eq!(r.bytes_before, before.log_bytes);
    assert_eq!(r.live_ids, 891);
    assert_eq!(r.carried_records, 0);
    assert_eq!(r.folded_seq, last_seq);
    assert_eq!(r.cleanup_error, None);
    // Header, then one 32-byte header and 100-byte payload per live id.
    assert_eq!(r.bytes_after, 64 + 891 * 132);
    let after = s.stats();
    assert_eq!(after.log_bytes, r.bytes_after);
    assert_eq!(after.live_bytes, 891 * 100);
    assert_eq!(after.dead_bytes, 0);
    assert_eq!(
        files(t.path()),
        vec!["wal-0000000000000002.log".to_string()]
    );
    assert_state(&s, &want, 0..1005);

    // Writes go on in the new generation, numbered after the old ones.
    let seq = s.store_seq(5000, b"after").unwrap();
    assert_eq!(seq, last_seq + 1);
    want.insert(5000, b"after".to_vec());
    drop(s);
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    assert_eq!(s.open_report().records_replayed, 892);
    assert_state(&s, &want, 0..1005);
    assert_eq!(s.store_seq(5001, b"next").unwrap(), last_seq + 2);
}

#[test]
fn an_empty_store_and_a_store_emptied_by_deletes_keep_their_numbering() {
    let t = tmp();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    let r = s.compact().unwrap();
    assert_eq!((r.generation, r.live_ids, r.bytes_after), (2, 0, 64));
    for id in 0..50u64 {
        s.store(id, b"x").unwrap();
    }
    s.delete_range(0, u64::MAX).unwrap();
    let last = s.cursor().seq();
    assert_eq!(last, 51);
    let r = s.compact().unwrap();
    assert_eq!((r.generation, r.live_ids, r.bytes_after), (3, 0, 64));
    drop(s);
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    assert!(s.is_empty());
    // The log holds no record, yet numbering resumes above the fold.
    assert_eq!(s.store_seq(1, b"y").unwrap(), 52);
    assert_eq!(
        files(t.path()),
        vec!["wal-0000000000000003.log".to_string()]
    );
}

/// Deleted ids stay deleted through snapshot, compaction and reopen, in
/// every order of the three.
#[test]
fn deleted_ids_stay_deleted_in_every_order() {
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Snapshot,
        Compact,
        Reopen,
    }
    let orders: [[Step; 3]; 6] = [
        [Step::Snapshot, Step::Compact, Step::Reopen],
        [Step::Snapshot, Step::Reopen, Step::Compact],
        [Step::Compact, Step::Snapshot, Step::Reopen],
        [Step::Compact, Step::Reopen, Step::Snapshot],
        [Step::Reopen, Step::Snapshot, Step::Compact],
        [Step::Reopen, Step::Compact, Step::Snapshot],
    ];
    for order in orders {
        let t = tmp();
        let o = opts(Durability::Flush);
        let mut s = Store::open(t.path(), &o).unwrap();
        let mut want = Model::new();
        for id in 0..60u64 {
            s.store(id, &value(id, 0)).unwrap();
            want.insert(id, value(id, 0));
        }
        for (round, step) in order.iter().enumerate() {
            // Deletes of each kind before every step, and an id stored
            // again after being deleted.
            let base = round as u64 * 20;
            s.delete(base).unwrap();
            let mut b = WriteBatch::new();
            b.delete(base + 1).delete_range(base + 2, base + 4);
            s.write_batch(&b).unwrap();
            s.store(base + 3, b"reborn").unwrap();
            for id in [base, base + 1, base + 2, base + 4] {
                want.remove(&id);
            }
            want.insert(base + 3, b"reborn".to_vec());
            match step {
                Step::Snapshot => {
                    s.snapshot().unwrap();
                }
                Step::Compact => {
                    s.compact().unwrap();
                }
                Step::Reopen => {
                    drop(s);
                    s = Store::open(t.path(), &o).unwrap();
                }
            }
            assert_state(&s, &want, 0..70);
        }
        drop(s);
        let s = Store::open(t.path(), &o).unwrap();
        assert_state(&s, &want, 0..70);
        // And once more from the log alone.
        drop(s);
        for f in files(t.path()) {
            if f.ends_with(".snap") {
                std::fs::remove_file(t.path().join(f)).unwrap();
            }
        }
        let s = Store::open(t.path(), &o).unwrap();
        assert_eq!(s.open_report().snapshot_used, None, "{order:?}");
        assert_state(&s, &want, 0..70);
    }
}

#[test]
fn snapshots_of_the_replaced_generation_are_removed_and_new_ones_work() {
    let t = tmp();
    let o = opts(Durability::Flush);
    let s = Store::open(t.path(), &o).unwrap();
    let mut want = Model::new();
    for id in 0..100u64 {
        s.store(id, &value(id, 1)).unwrap();
        s.store(id, &value(id, 2)).unwrap();
        want.insert(id, value(id, 2));
    }
    let p = s.snapshot().unwrap();
    assert!(files(t.path()).contains(&format!("snapshot-0000000000000001-{p:016x}.snap")));
    s.compact().unwrap();
    assert_eq!(
        files(t.path()),
        vec!["wal-0000000000000002.log".to_string()]
    );
    assert_eq!(s.snapshot_position(), 64);
    s.store(7, b"seven").unwrap();
    want.insert(7, b"seven".to_vec());
    let p = s.snapshot().unwrap();
    assert_eq!(p, s.log_position());
    drop(s);
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.open_report().snapshot_used, Some(p));
    assert_eq!(s.open_report().records_replayed, 0);
    assert_state(&s, &want, 0..110);
}

#[test]
fn a_cursor_from_before_two_compactions_still_reads_its_point_in_time() {
    let t = tmp();
    let s = Store::open(t.path(), &opts(Durability::None)).unwrap();
    let mut want = Model::new();
    for id in 0..200u64 {
        s.store(id, &value(id, 0)).unwrap();
        want.insert(id, value(id, 0));
    }
    let mut old = s.cursor();
    assert_eq!(old.seq(), 200);
    for id in 0..200u64 {
        s.store(id, &value(id, 1)).unwrap();
    }
    s.compact().unwrap();
    s.delete_range(0, 99).unwrap();
    s.compact().unwrap();
    // Generation 3 now sits under the parity generation 1 had: the cursor
    // still reads generation 1's records, from the file it keeps open.
    let mut got = Model::new();
    let mut buf = Vec::new();
    while let Some(r) = old.next_into(&s, &mut buf) {
        got.insert(r.unwrap(), buf.clone());
    }
    assert_eq!(got, want);
    let now: Model = (100..200u64).map(|id| (id, value(id, 1))).collect();
    assert_state(&s, &now, 0..200);
}

#[test]
fn change_cursors_refuse_folded_numbers_and_a_replica_follows_across_compaction() {
    let t = tmp();
    let o = opts(Durability::Flush);
    let src = Store::open(t.path().join("src"), &o).unwrap();
    let replica = Store::open(t.path().join("replica"), &o).unwrap();
    let apply = |c: Change| match c {
        Change::Store { id, payload, .. } => replica.store(id, &payload).unwrap(),
        Change::Delete { id, .. } => replica.delete(id).unwrap(),
        Change::DeleteRange { lo, hi, .. } => drop(replica.delete_range(lo, hi).unwrap()),
        Change::BatchBegin { .. } | Change::BatchCommit { .. } => {}
    };
    for id in 0..30u64 {
        src.store(id, &value(id, 0)).unwrap();
    }
    // The replica follows from the start.
    let mut next = 1;
    for c in src.changes(next).unwrap() {
        let c = c.unwrap();
        next = c.seq() + 1;
        apply(c);
    }
    // A change cursor opened before the compaction reads on after it.
    src.delete(3).unwrap();
    let mut pending = src.changes_from(next).unwrap();
    src.store(4, b"four").unwrap();
    let r = src.compact().unwrap();
    assert_eq!(r.folded_seq, 32);
    assert_eq!(
        src.next_change(&mut pending).unwrap().unwrap(),
        Change::Delete { seq: 31, id: 3 }
    );
    assert!(src.next_change(&mut pending).is_none());
    apply(Change::Delete { seq: 31, id: 3 });
    next = 32;

    // Number 32 (the store of id 4) was folded away: refused, exactly.
    let e = src.changes_from(next).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Compacted);
    assert_eq!(
        e.to_string(),
        format!(
            "sequence number 32 was folded away by a compaction of {}: its change stream \
             starts at 33; copy the store with a cursor and follow changes from the cursor's \
             sequence number + 1",
            t.path().join("src/wal-0000000000000002.log").display()
        )
    );
    assert_eq!(
        src.changes_from(0).unwrap_err().kind(),
        ErrorKind::Compacted
    );

    // The replica starts over from a copy, then follows.
    let copy = src.cursor();
    assert_eq!(copy.seq(), 32);
    replica.delete_range(0, u64::MAX).unwrap();
    for (id, v) in src.iter().map(|r| r.unwrap()) {
        replica.store(id, &v).unwrap();
    }
    src.store(100, b"hundred").unwrap();
    let mut b = WriteBatch::new();
    b.delete(5).delete_range(10, 12).store(6, b"six");
    src.write_batch(&b).unwrap();
    for c in src.changes(copy.seq() + 1).unwrap() {
        apply(c.unwrap());
    }
    assert_eq!(contents(&replica), contents(&src));
    assert_eq!(contents(&src).len(), 30 - 1 - 1 - 3 + 1);
}

#[test]
fn damaged_ids_stay_damaged_through_compaction_snapshot_and_reopen() {
    let t = tmp();
    let o = opts(Durability::Flush);
    let s = Store::open(t.path(), &o).unwrap();
    s.store(1, b"one, first").unwrap();
    s.store(2, b"two").unwrap();
    s.store(1, b"one, second").unwrap(); // at 64 + 42 + 35
    s.store(3, b"three").unwrap();
    drop(s);
    // Damage the payload of id 1's newest record.
    let log = t.path().join("wal-0000000000000001.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = 64 + 42 + 35;
    bytes[at + 32] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();

    let mut salvage = o.clone();
    salvage.set_recovery(RecoveryMode::Salvage);
    let s = Store::open(t.path(), &salvage).unwrap();
    assert_eq!(s.damaged_ids(), vec![1]);
    let before = s.retrieve(1).unwrap_err();
    assert_eq!(before.kind(), ErrorKind::Corruption);
    let r = s.compact().unwrap();
    assert_eq!(r.live_ids, 3);
    let e = s.retrieve(1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    // Id 2's record comes first in the new log (it came first in the old).
    assert_eq!(
        e.to_string(),
        format!(
            "corruption in {} at offset 99: id 1 was found damaged before a compaction, as: {before}",
            t.path().join("wal-0000000000000002.log").display(),
        )
    );
    assert!(before.to_string().starts_with(&format!(
        "corruption in {} at offset 141: id 1 is damaged",
        log.display()
    )));
    assert_eq!(s.damaged_ids(), vec![1]);
    assert_eq!(s.retrieve(2).unwrap(), b"two");
    s.snapshot().unwrap();
    drop(s);
    // Strict opens of the compacted store: the marker is a valid record.
    for keep_snapshot in [true, false] {
        if !keep_snapshot {
            for f in files(t.path()) {
                if f.ends_with(".snap") {
                    std::fs::remove_file(t.path().join(f)).unwrap();
                }
            }
        }
        let s = Store::open(t.path(), &o).unwrap();
        assert_eq!(s.damaged_ids(), vec![1]);
        assert_eq!(s.retrieve(1).unwrap_err().to_string(), e.to_string());
        assert_eq!(s.retrieve(3).unwrap(), b"three");
        // A new store of the id replaces the damaged one, as before.
        drop(s);
    }
    // A second compaction carries the same report, not a report of it.
    let s = Store::open(t.path(), &o).unwrap();
    s.compact().unwrap();
    assert_eq!(
        s.retrieve(1).unwrap_err().to_string(),
        e.to_string()
            .replace("wal-0000000000000002", "wal-0000000000000003")
    );
    s.store(1, b"one, repaired").unwrap();
    s.compact().unwrap();
    assert_eq!(s.damaged_ids(), Vec::<u64>::new());
    assert_eq!(s.retrieve(1).unwrap(), b"one, repaired");
}

#[test]
fn leftovers_of_an_interrupted_compaction_are_removed_at_open() {
    let t = tmp();
    let o = opts(Durability::Flush);
    let s = Store::open(t.path(), &o).unwrap();
    for id in 0..10u64 {
        s.store(id, &value(id, 0)).unwrap();
    }
    drop(s);
    // A crash before the rename: the unfinished next generation.
    std::fs::write(
        t.path().join("wal-0000000000000002.log.tmp"),
        b"WALSTORE partial",
    )
    .unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(
        files(t.path()),
        vec!["wal-0000000000000001.log".to_string()]
    );
    s.compact().unwrap();
    drop(s);
    // A crash after the rename, before the old log was removed.
    let gen2 = std::fs::read(t.path().join("wal-0000000000000002.log")).unwrap();
    std::fs::write(
        t.path().join("wal-0000000000000001.log"),
        b"stale old generation",
    )
    .unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(
        files(t.path()),
        vec!["wal-0000000000000002.log".to_string()]
    );
    assert_eq!(
        std::fs::read(t.path().join("wal-0000000000000002.log")).unwrap(),
        gen2
    );
}

#[test]
fn read_only_handles_refuse_to_compact() {
    let t = tmp();
    Store::open(t.path(), &opts(Durability::Flush))
        .unwrap()
        .store(1, b"x")
        .unwrap();
    let mut o = opts(Durability::Flush);
    o.set_read_only(true);
    let s = Store::open(t.path(), &o).unwrap();
    let e = s.compact().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        format!(
            "invalid argument: compact refused: the store in {} was opened read-only",
            t.path().display()
        )
    );
}

/// Readers and writers run while compactions run; every read returns
/// exactly one of the values written for its id (never another id's bytes,
/// never an error), and the end state matches what the writers did.
#[test]
fn readers_and_writers_during_compactions_see_exact_values() {
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let t = tmp();
        let s = Arc::new(Store::open(t.path(), &opts(d)).unwrap());
        let ids = 64u64;
        for id in 0..ids {
            s.store(id, &value(id, 0)).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let compacted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (s, compacted) = (s.clone(), compacted.clone());
                std::thread::spawn(move || {
                    // Writer w owns the ids with id % 2 == w; versions grow.
                    // It writes until at least two compactions have run
                    // beside it.
                    let mut last = BTreeMap::new();
                    let mut version = 0u64;
                    while version < 60 || compacted.load(Ordering::Acquire) < 2 {
                        version += 1;
                        for id in (w..ids).step_by(2) {
                            if (id + version) % 7 == 0 {
                                let mut b = WriteBatch::new();
                                b.delete(id).store(id, &value(id, version));
                                s.write_batch(&b).unwrap();
                            } else {
                                s.store(id, &value(id, version)).unwrap();
                            }
                            last.insert(id, version);
                        }
                    }
                    last
                })
            })
            .collect();
        let readers: Vec<_> = (0..2u64)
            .map(|r| {
                let (s, stop, reads) = (s.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    let mut id = r;
                    while !stop.load(Ordering::Acquire) {
                        id = (id + 7) % ids;
                        let v = s.retrieve(id).unwrap();
                        let text = String::from_utf8(
                            v[..v.iter().position(|&b| b == b'.').unwrap()].to_vec(),
                        )
                        .unwrap();
                        let version: u64 = text
                            .strip_prefix(&format!("id {id} version "))
                            .unwrap_or_else(|| panic!("id {id} read {text:?}"))
                            .trim()
                            .parse()
                            .unwrap();
                        assert_eq!(v, value(id, version));
                        reads.fetch_add(1, Ordering::Release);
                    }
                })
            })
            .collect();
        let mut compactions = 0;
        let mut seen = 0;
        while writers.iter().any(|w| !w.is_finished()) {
            // Readers read between any two compactions, on any machine.
            wait_for("readers", || reads.load(Ordering::Acquire) > seen);
            seen = reads.load(Ordering::Acquire);
            s.compact().unwrap();
            compactions += 1;
            compacted.store(compactions, Ordering::Release);
        }
        let mut want = Model::new();
        for w in writers {
            for (id, version) in w.join().unwrap() {
                want.insert(id, value(id, version));
            }
        }
        s.compact().unwrap();
        stop.store(true, Ordering::Release);
        readers.into_iter().for_each(|r| r.join().unwrap());
        let reads = reads.load(Ordering::Acquire);
        assert!(compactions >= 2 && reads >= compactions);
        println!("{d:?}: {compactions} compactions beside the writers, {reads} reads checked");
        assert_state(&s, &want, 0..ids + 2);
        let s = Arc::try_unwrap(s).unwrap();
        drop(s);
        let s = Store::open(t.path(), &opts(d)).unwrap();
        assert_state(&s, &want, 0..ids + 2);
    }
}

#[test]
fn compaction_starts_by_itself_past_the_dead_ratio() {
    let t = tmp();
    let mut o = opts(Durability::Flush);
    o.set_auto_compact(0.6, 2 << 20).unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    let mut want = Model::new();
    let payload = |id: u64, v: u64| {
        let mut p = value(id, v);
        p.resize(1000, b'x');
        p
    };
    // 200 ids of 1 KB: 200 KB live. Overwriting them 12 times makes about
    // 2.4 MB of log, over 90% of it dead.
    for v in 0..12u64 {
        for id in 0..200u64 {
            s.store(id, &payload(id, v)).unwrap();
            want.insert(id, payload(id, v));
        }
    }
    wait_for("an automatic compaction", || {
        s.stats().auto_compactions >= 1
    });
    let st = s.stats();
    assert_eq!(st.auto_compaction_failures, 0);
    assert_eq!(st.last_auto_compaction_error, None);
    assert!(st.generation >= 2);
    assert!(st.log_bytes < 1 << 20, "{st:?}");
    assert_state(&s, &want, 0..205);
    drop(s);
    let s = Store::open(t.path(), &o).unwrap();
    assert_state(&s, &want, 0..205);

    // Off: the same writes never compact.
    let t = tmp();
    let mut o = opts(Durability::Flush);
    o.set_auto_compact(0.0, 0).unwrap();
    let s = Store::open(t.path(), &o).unwrap();
    for v in 0..12u64 {
        for id in 0..200u64 {
            s.store(id, &payload(id, v)).unwrap();
        }
    }
    assert_eq!((s.stats().auto_compactions, s.stats().generation), (0, 1));
}

#[test]
fn closing_during_an_automatic_compaction_loses_nothing() {
    for round in 0..5u64 {
        let t = tmp();
        let mut o = opts(Durability::None);
        o.set_auto_compact(0.3, 1 << 20).unwrap();
        let s = Store::open(t.path(), &o).unwrap();
        let mut want = Model::new();
        for v in 0..(20 + round) {
            for id in 0..500u64 {
                s.store(id, &value(id, v)).unwrap();
                want.insert(id, value(id, v));
            }
        }
        s.close().unwrap();
        let s = Store::open(t.path(), &o).unwrap();
        assert_state(&s, &want, 0..505);
        single_log(t.path());
    }
}

/// The directory holds one log and no unfinished one.
fn single_log(dir: &Path) {
    let logs: Vec<String> = files(dir)
        .into_iter()
        .filter(|n| n.starts_with("wal-") && n.contains(".log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].ends_with(".log"), "{logs:?}");
}
