//! Mixed write batches and range deletes through the safe API: the order
//! operations apply in, what a range covers, what is refused (and that a
//! refusal writes nothing), and that reopening, with or without a snapshot,
//! and the change stream all agree with a reference map.

use std::collections::BTreeMap;

use tempfile::TempDir;
use walstore::{BatchOp, Change, Durability, ErrorKind, Options, Store, WriteBatch};
mod common;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_durability(Durability::Flush).set_auto_snapshot(false);
    o
}

/// Every id the tests touch reads back exactly as `want` says.
fn assert_matches(store: &Store, want: &BTreeMap<u64, Vec<u8>>, ids: &[u64]) {
    for id in ids {
        match want.get(id) {
            Some(v) => assert_eq!(&store.retrieve(*id).unwrap(), v, "id {id}"),
            None => assert_eq!(
                store.retrieve(*id).unwrap_err().kind(),
                ErrorKind::NotFound,
                "id {id}"
            ),
        }
    }
    assert_eq!(store.len(), want.len());
    let listed: Vec<(u64, Vec<u8>)> = store.iter().map(|r| r.unwrap()).collect();
    let expected: Vec<(u64, Vec<u8>)> = want.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(listed, expected);
}

#[test]
fn operations_apply_in_order_and_a_missing_id_is_no_error() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path(), &opts()).unwrap();
    store.store(1, b"one").unwrap();
    store.store(2, b"two").unwrap();
    let mut b = WriteBatch::new();
    b.store(3, b"three")
        .delete(3) // stored, then deleted in the same batch
        .delete(2)
        .store(2, b"two again") // deleted, then stored again
        .delete(99) // never existed
        .store(4, b"four");
    assert_eq!(b.len(), 6);
    let seq = store.write_batch(&b).unwrap();
    // 2 single stores (1, 2), then begin + 6 + commit.
    assert_eq!(seq, 10);
    let want: BTreeMap<u64, Vec<u8>> = [
        (1, b"one".to_vec()),
        (2, b"two again".to_vec()),
        (4, b"four".to_vec()),
    ]
    .into();
    assert_matches(&store, &want, &[1, 2, 3, 4, 99]);
    assert_eq!(store.stats().live_bytes, 3 + 9 + 4);
    drop(store);
    let store = Store::open(dir.path(), &opts()).unwrap();
    assert_matches(&store, &want, &[1, 2, 3, 4, 99]);
    assert_eq!(store.open_report().records_replayed, 8);
}

#[test]
fn a_range_delete_covers_both_ends_and_nothing_else() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path(), &opts()).unwrap();
    for id in 0..20u64 {
        store.store(id, &id.to_le_bytes()).unwrap();
    }
    store.store(u64::MAX, b"top").unwrap();
    store.store(u64::MAX - 1, b"below top").unwrap();
    let mut want: BTreeMap<u64, Vec<u8>> =
        (0..20u64).map(|i| (i, i.to_le_bytes().to_vec())).collect();
    want.insert(u64::MAX, b"top".to_vec());
    want.insert(u64::MAX - 1, b"below top".to_vec());

    // Narrow (walked id by id) and wide (a pass over the index) ranges.
    store.delete_range(5, 9).unwrap();
    store.delete_range(15, 1 << 40).unwrap();
    store.delete_range(u64::MAX, u64::MAX).unwrap();
    store.delete_range(100, 200).unwrap(); // holds no id: still no error
    for id in (5..=9).chain(15..20).chain([u64::MAX]) {
        want.remove(&id);
    }
    let ids: Vec<u64> = (0..25).chain([u64::MAX - 1, u64::MAX]).collect();
    assert_matches(&store, &want, &ids);
    assert_eq!(store.stats().live_bytes, 10 * 8 + 9);

    drop(store);
    let store = Store::open(dir.path(), &opts()).unwrap();
    assert_matches(&store, &want, &ids);
    store.delete_range(0, u64::MAX).unwrap();
    want.clear();
    assert_matches(&store, &want, &ids);
    assert_eq!(store.stats().live_bytes, 0);
    drop(store);
    let store = Store::open(dir.path(), &opts()).unwrap();
    assert_matches(&store, &want, &ids);
}

#[test]
fn invalid_operations_reject_the_whole_batch_before_anything_is_written() {
    let dir = TempDir::new().unwrap();
    let mut o = opts();
    o.set_max_payload(16).unwrap();
    let store = Store::open(dir.path(), &o).unwrap();
    store.store(1, b"kept").unwrap();
    let before = store.log_position();

    let mut b = WriteBatch::new();
    b.delete(1).delete_range(9, 8);
    let e = store.write_batch(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "invalid argument: range delete from id 9 to id 8: the low end is above the high end"
    );
    let e = store.delete_range(3, 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    let big = [0u8; 17];
    let e = store
        .write_ops(&[
            BatchOp::Delete { id: 1 },
            BatchOp::Store { id: 2, data: &big },
        ])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "invalid argument: payload of id 2 is 17 bytes, over the limit of 16 bytes"
    );

    assert_eq!(store.log_position(), before);
    assert_eq!(store.retrieve(1).unwrap(), b"kept");
    assert_eq!(store.write_batch(&WriteBatch::new()).unwrap(), 0);
    assert_eq!(store.log_position(), before);
}

#[test]
fn read_only_handles_refuse_batches_and_range_deletes() {
    let dir = TempDir::new().unwrap();
    Store::open(dir.path(), &opts())
        .unwrap()
        .store(1, b"x")
        .unwrap();
    let mut o = opts();
    o.set_read_only(true);
    let store = Store::open(dir.path(), &o).unwrap();
    let mut b = WriteBatch::new();
    b.delete(1);
    assert_eq!(
        store.write_batch(&b).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        store.delete_range(0, 5).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(store.retrieve(1).unwrap(), b"x");
}

#[test]
fn range_deletes_survive_a_snapshot_and_the_records_after_it() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path(), &opts()).unwrap();
    let mut want = BTreeMap::new();
    for id in 0..100u64 {
        store.store(id, &[id as u8; 10]).unwrap();
        want.insert(id, vec![id as u8; 10]);
    }
    store.delete_range(10, 19).unwrap();
    store.snapshot().unwrap();
    let mut b = WriteBatch::new();
    b.delete_range(50, 59)
        .store(55, b"back")
        .delete_range(90, 1000);
    store.write_batch(&b).unwrap();
    for id in (10..20).chain(50..60).chain(90..100) {
        want.remove(&id);
    }
    want.insert(55, b"back".to_vec());
    let ids: Vec<u64> = (0..110).collect();
    assert_matches(&store, &want, &ids);
    drop(store);

    let store = Store::open(dir.path(), &opts()).unwrap();
    assert!(store.open_report().snapshot_used.is_some());
    assert_eq!(store.open_report().records_replayed, 3);
    assert_matches(&store, &want, &ids);
    drop(store);

    // And from the log alone.
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "snap") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let store = Store::open(dir.path(), &opts()).unwrap();
    assert_eq!(store.open_report().snapshot_used, None);
    assert_matches(&store, &want, &ids);
}

#[test]
fn the_change_stream_shows_range_deletes_inside_and_outside_batches() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path(), &opts()).unwrap();
    store.store(1, b"a").unwrap();
    let s = store.delete_range(0, 3).unwrap();
    assert_eq!(s, 2);
    let mut b = WriteBatch::new();
    b.store(7, b"seven").delete(1).delete_range(8, u64::MAX);
    assert_eq!(store.write_batch(&b).unwrap(), 7);
    let got: Vec<Change> = store.changes(2).unwrap().map(|c| c.unwrap()).collect();
    assert_eq!(
        got,
        vec![
            Change::DeleteRange {
                seq: 2,
                lo: 0,
                hi: 3
            },
            Change::BatchBegin { seq: 3, count: 3 },
            Change::Store {
                seq: 4,
                id: 7,
                payload: b"seven".to_vec()
            },
            Change::Delete { seq: 5, id: 1 },
            Change::DeleteRange {
                seq: 6,
                lo: 8,
                hi: u64::MAX
            },
            Change::BatchCommit { seq: 7, count: 3 },
        ]
    );
}

#[test]
fn a_batch_is_one_fsync_under_fsync_durability() {
    let dir = TempDir::new().unwrap();
    let mut o = opts();
    o.set_durability(Durability::Fsync);
    let store = Store::open(dir.path(), &o).unwrap();
    let mut b = WriteBatch::new();
    for id in 0..1000u64 {
        b.store(id, b"payload");
    }
    b.delete_range(0, 499);
    store.write_batch(&b).unwrap();
    assert_eq!(store.len(), 500);
    assert_eq!(store.retrieve(500).unwrap(), b"payload");
    assert_eq!(store.retrieve(499).unwrap_err().kind(), ErrorKind::NotFound);
}

/// A reader never sees half a batch: an id deleted (alone or by a range)
/// and stored again in one batch is never missing, under every durability
/// level. Every 50 batches the writer waits for the readers to have read
/// again, so reads overlap the batches on any machine.
#[test]
fn readers_never_see_half_a_batch() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let dir = TempDir::new().unwrap();
        let mut o = opts();
        o.set_durability(d);
        let s = Arc::new(Store::open(dir.path(), &o).unwrap());
        s.store(5, b"v0").unwrap();
        s.store(15, b"v0").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (s, stop, reads) = (s.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        for id in [5, 15] {
                            let v = s.retrieve(id).unwrap_or_else(|e| panic!("id {id}: {e}"));
                            assert_eq!(v[0], b'v');
                        }
                        reads.fetch_add(1, Ordering::Release);
                    }
                })
            })
            .collect();
        let rounds = if d == Durability::Fsync { 300 } else { 3000 };
        let mut seen = 0;
        for v in 1..=rounds {
            if v % 50 == 1 {
                common::wait_for("readers", || reads.load(Ordering::Acquire) > seen);
                seen = reads.load(Ordering::Acquire);
            }
            let val = format!("v{v}");
            let mut b = WriteBatch::new();
            b.delete(5)
                .store(5, val.as_bytes())
                .delete_range(10, 20)
                .store(15, val.as_bytes());
            s.write_batch(&b).unwrap();
        }
        stop.store(true, Ordering::Release);
        readers.into_iter().for_each(|r| r.join().unwrap());
        let last = format!("v{rounds}");
        assert_eq!(s.retrieve(5).unwrap(), last.as_bytes());
        assert_eq!(s.retrieve(15).unwrap(), last.as_bytes());
    }
}
