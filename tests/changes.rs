//! Log-order reading: the change stream of one store, replayed into a
//! second, makes an identical store; a replica resumes from the sequence
//! number after the last one it applied.

use walstore::{Change, Durability, ErrorKind, Options, Store};
mod common;
use common::tmp as tempdir;

fn opts(d: Durability) -> Options {
    let mut o = Options::default();
    o.set_durability(d);
    o
}

/// A batch being received: its entry count and the entries so far.
type OpenBatch = (u64, Vec<(u64, Vec<u8>)>);

/// Applies changes to `replica`, batches as batches. Returns the last
/// sequence number applied.
fn apply(replica: &Store, changes: impl Iterator<Item = walstore::Result<Change>>) -> u64 {
    let mut last = 0;
    let mut batch: Option<OpenBatch> = None;
    for c in changes {
        let c = c.unwrap();
        last = c.seq();
        match (c, batch.as_mut()) {
            (Change::BatchBegin { count, .. }, None) => batch = Some((count, Vec::new())),
            (Change::Store { id, payload, .. }, Some((_, entries))) => entries.push((id, payload)),
            (Change::BatchCommit { count, .. }, Some((n, entries))) => {
                assert_eq!(count, *n);
                let refs: Vec<(u64, &[u8])> =
                    entries.iter().map(|(i, p)| (*i, p.as_slice())).collect();
                replica.store_batch(&refs).unwrap();
                batch = None;
            }
            (Change::Store { id, payload, .. }, None) => replica.store(id, &payload).unwrap(),
            (Change::Delete { id, .. }, None) => replica.delete(id).unwrap(),
            (c, b) => panic!("unexpected {c:?} with batch {b:?}"),
        }
    }
    assert!(batch.is_none(), "the stream ends between batches");
    last
}

fn contents(s: &Store) -> Vec<(u64, Vec<u8>)> {
    s.iter().map(|r| r.unwrap()).collect()
}

#[test]
fn the_change_stream_rebuilds_an_identical_store() {
    for d in [Durability::Fsync, Durability::Flush, Durability::None] {
        let (a, b) = (tempdir(), tempdir());
        let src = Store::open(a.path(), &opts(d)).unwrap();
        let s1 = src.store_seq(1, b"one").unwrap();
        let s2 = src
            .store_batch_seq(&[(2, b"two"), (3, b""), (2, b"TWO")])
            .unwrap();
        let s3 = src.delete_seq(1).unwrap();
        assert_eq!((s1, s2, s3), (1, 6, 7), "a batch of 3 takes 5 numbers");
        assert_eq!(src.store_batch_seq(&[]).unwrap(), 0);
        assert_eq!(src.store_batch_seq(&[(4, b"four")]).unwrap(), 8);

        let replica = Store::open(b.path(), &opts(d)).unwrap();
        let last = apply(&replica, src.changes(1).unwrap());
        assert_eq!(last, 8);
        assert_eq!(contents(&replica), contents(&src), "{d:?}");

        // More writes; the replica resumes after what it applied.
        src.store(5, b"five").unwrap();
        src.delete(2).unwrap();
        src.close().unwrap();
        let src = Store::open(a.path(), &opts(d)).unwrap();
        src.store_batch(&[(6, b"six"), (7, b"seven")]).unwrap();
        let last = apply(&replica, src.changes(last + 1).unwrap());
        assert_eq!(last, 14);
        assert_eq!(contents(&replica), contents(&src), "{d:?} after resuming");
        assert_eq!(src.changes(last + 1).unwrap().count(), 0);
    }
}

#[test]
fn changes_list_every_record_with_its_number() {
    let t = tempdir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(9, b"x").unwrap();
    s.store_batch(&[(1, b"a"), (2, b"b")]).unwrap();
    s.delete(9).unwrap();
    let all: Vec<Change> = s.changes(0).unwrap().map(|c| c.unwrap()).collect();
    assert_eq!(
        all,
        vec![
            Change::Store {
                seq: 1,
                id: 9,
                payload: b"x".to_vec()
            },
            Change::BatchBegin { seq: 2, count: 2 },
            Change::Store {
                seq: 3,
                id: 1,
                payload: b"a".to_vec()
            },
            Change::Store {
                seq: 4,
                id: 2,
                payload: b"b".to_vec()
            },
            Change::BatchCommit { seq: 5, count: 2 },
            Change::Delete { seq: 6, id: 9 },
        ]
    );
    let from4: Vec<u64> = s.changes(4).unwrap().map(|c| c.unwrap().seq()).collect();
    assert_eq!(from4, vec![4, 5, 6]);
    // A cursor shows what was acknowledged when it was opened.
    let mut c = s.changes_from(6).unwrap();
    s.store(10, b"later").unwrap();
    assert_eq!(s.next_change(&mut c).unwrap().unwrap().seq(), 6);
    assert!(s.next_change(&mut c).is_none());
}

#[test]
fn a_damaged_record_ends_the_stream_with_corruption() {
    let t = tempdir();
    let s = Store::open(t.path(), &opts(Durability::Flush)).unwrap();
    s.store(1, b"aaaa").unwrap();
    s.store(2, b"bbbb").unwrap();
    s.store(3, b"cccc").unwrap();
    let log = t.path().join("wal-0000000000000001.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[64 + 36 + 32] ^= 1; // id 2's payload
    std::fs::write(&log, &bytes).unwrap();
    let got: Vec<_> = s
        .changes(1)
        .unwrap()
        .map(|c| c.map(|c| c.seq()).map_err(|e| e.kind()))
        .collect();
    assert_eq!(got, vec![Ok(1), Err(ErrorKind::Corruption)]);
}
