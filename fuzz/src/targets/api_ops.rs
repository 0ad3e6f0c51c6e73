//! `api_ops`: a sequence of API calls decoded from the input (store,
//! store_batch, write_batch mixing stores, deletes and range deletes,
//! retrieve, retrieve_into, payload_len, delete, sync, snapshot, compact,
//! reopen with new options, a read-only look), checked call by call against
//! a `BTreeMap` model:
//!
//! - every read returns exactly the model's bytes, or `NotFound` for an id
//!   the model lacks; a too-small buffer gives `BufferTooSmall` with the
//!   length needed;
//! - a delete of a missing id gives `NotFound` and writes nothing;
//! - a payload over `max_payload` gives `InvalidArgument` and writes
//!   nothing (for a batch: none of it);
//! - every write moves the log position by exactly the bytes its records
//!   take (32 per record header, batches framed by two more records);
//! - `snapshot` returns the current position; `should_snapshot` is never
//!   true below the threshold;
//! - `compact` leaves one record per live id, in a new generation, and no
//!   snapshot of the old one;
//! - after a reopen (close, then open with options from the input) the
//!   store equals the model, the position is where it was, nothing was torn
//!   or damaged, and the newest snapshot is the one used.

use crate::history::Model;
use crate::logcheck::err_kind;
use crate::observe::{observe, Observed};
use crate::util::{list, Reader, TmpDir};
use std::collections::BTreeSet;
use std::path::Path;
use walstore::{BatchOp, Durability, Error, ErrorKind, Options, RecoveryMode, Store};

const HEADER: u64 = 32;

fn id_of(b: u8) -> u64 {
    match b {
        0..=199 => u64::from(b % 40),
        200..=239 => u64::from(b) << 40,
        _ => u64::MAX - u64::from(b - 240),
    }
}

fn payload<'a>(r: &mut Reader<'a>) -> Vec<u8> {
    let n = match r.u8() {
        0..=239 => usize::from(r.u8() % 96),
        240..=253 => 96 + usize::from(r.u16() % 1200),
        _ => 4096 + usize::from(r.u16()),
    };
    let seed = r.u8();
    let mut v = r.bytes(n.min(64)).to_vec();
    // Long payloads: the input's bytes, then a pattern (inputs stay short).
    while v.len() < n {
        v.push(seed.wrapping_add(v.len() as u8));
    }
    v
}

fn options(r: &mut Reader) -> Options {
    let mut o = Options::new();
    o.set_durability(match r.u8() % 3 {
        0 => Durability::Fsync,
        1 => Durability::Flush,
        _ => Durability::None,
    });
    o.set_recovery(match r.u8() % 3 {
        0 => RecoveryMode::Strict,
        1 => RecoveryMode::Salvage,
        _ => RecoveryMode::Absolute,
    });
    let b = r.u8();
    if b & 1 == 1 {
        o.set_write_buffer(1 + usize::from(r.u16() % 600))
            .expect("buffer size");
    }
    if b & 2 == 2 {
        o.set_max_payload(1 + usize::from(r.u16() % 300))
            .expect("max payload");
    }
    if b & 4 == 4 {
        o.set_snapshot_threshold(u64::from(r.u16() % 400));
    }
    // Background snapshots (on by default) only with bit 8: their timing
    // is the thread scheduler's, so the checks then allow any snapshot
    // position from the newest explicit one on.
    o.set_auto_snapshot(b & 8 == 8);
    o
}

struct Run {
    model: Model,
    ids: BTreeSet<u64>,
    /// Position of the newest snapshot, if one was taken.
    snapshot: Option<u64>,
    /// Position before each reopen.
    position: u64,
    /// Background snapshots are on in the current session.
    auto: bool,
}

pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let tmp = TmpDir::new();
    let dir = tmp.sub("store");
    let mut o = options(&mut r);
    let mut st = Store::open(&dir, &o).expect("open a new store");
    let mut run = Run {
        model: Model::new(),
        ids: BTreeSet::new(),
        snapshot: None,
        position: st.log_position(),
        auto: o.auto_snapshot(),
    };
    assert_eq!(run.position, 64);
    let mut steps = 0;
    // WALSTORE_FUZZ_TRACE=1 prints each step, for reading a failing input.
    let trace = std::env::var_os("WALSTORE_FUZZ_TRACE").is_some();
    while !r.is_empty() && steps < 200 {
        steps += 1;
        let before = st.log_position();
        let op = r.u8() % 15;
        if trace {
            eprintln!(
                "step {steps}: op {op} at position {before}, snapshot {:?}",
                run.snapshot
            );
        }
        match op {
            0..=2 => {
                let (id, data) = (id_of(r.u8()), payload(&mut r));
                run.ids.insert(id);
                let res = st.store(id, &data);
                if data.len() > o.max_payload() {
                    assert_eq!(err_kind(&res), Some(ErrorKind::InvalidArgument));
                    assert_eq!(st.log_position(), before, "a refused store wrote");
                } else {
                    res.expect("store");
                    assert_eq!(st.log_position(), before + HEADER + data.len() as u64);
                    run.model.insert(id, data);
                }
            }
            3 => {
                let k = usize::from(r.u8() % 7);
                let entries: Vec<(u64, Vec<u8>)> =
                    (0..k).map(|_| (id_of(r.u8()), payload(&mut r))).collect();
                let refs: Vec<(u64, &[u8])> =
                    entries.iter().map(|(id, d)| (*id, d.as_slice())).collect();
                run.ids.extend(entries.iter().map(|e| e.0));
                let res = st.store_batch(&refs);
                if entries.iter().any(|(_, d)| d.len() > o.max_payload()) {
                    assert_eq!(err_kind(&res), Some(ErrorKind::InvalidArgument));
                    assert_eq!(st.log_position(), before, "a refused batch wrote");
                } else {
                    res.expect("store_batch");
                    let bytes: u64 = entries.iter().map(|(_, d)| HEADER + d.len() as u64).sum();
                    let framing = if k > 1 { 2 * HEADER } else { 0 };
                    assert_eq!(st.log_position(), before + bytes + framing);
                    for (id, d) in entries {
                        run.model.insert(id, d);
                    }
                }
            }
            4 => {
                let id = id_of(r.u8());
                check_read(&st, &run.model, id);
            }
            5 => {
                let (id, cap) = (id_of(r.u8()), usize::from(r.u8()));
                let mut buf = vec![0x5a; cap];
                let res = st.retrieve_into(id, &mut buf);
                match (run.model.get(&id), res) {
                    (None, Err(e)) => assert_eq!(e.kind(), ErrorKind::NotFound),
                    (
                        Some(d),
                        Err(Error::BufferTooSmall {
                            needed, capacity, ..
                        }),
                    ) => {
                        assert!(d.len() > cap);
                        assert_eq!((needed, capacity), (d.len(), cap));
                    }
                    (Some(d), Ok(n)) => {
                        assert_eq!(n, d.len());
                        assert_eq!(&buf[..n], d.as_slice(), "retrieve_into: wrong bytes");
                        assert!(
                            buf[n..].iter().all(|&b| b == 0x5a),
                            "wrote past the payload"
                        );
                    }
                    (want, got) => panic!("retrieve_into({id}): model {want:?}, got {got:?}"),
                }
            }
            6 => {
                let id = id_of(r.u8());
                run.ids.insert(id);
                let res = st.delete(id);
                if run.model.remove(&id).is_some() {
                    res.expect("delete of a present id");
                    assert_eq!(st.log_position(), before + HEADER);
                } else {
                    assert_eq!(err_kind(&res), Some(ErrorKind::NotFound));
                    assert_eq!(st.log_position(), before, "a failed delete wrote");
                }
            }
            7 => st.sync().expect("sync"),
            8 => {
                let pos = st.snapshot().expect("snapshot");
                assert_eq!(pos, before, "snapshot position");
                assert_eq!(st.snapshot_position(), pos);
                assert!(
                    !st.should_snapshot(),
                    "should_snapshot right after a snapshot"
                );
                run.snapshot = Some(pos);
                let snaps: Vec<String> = list(&dir)
                    .into_iter()
                    .filter(|n| n.starts_with("snapshot-"))
                    .collect();
                assert!(run.auto || snaps.len() == 1, "snapshot files: {snaps:?}");
            }
            9 => {
                run.position = before;
                st.close().expect("close");
                o = options(&mut r);
                st = reopen(&dir, &o, &mut run);
            }
            10 => {
                // A read-only look, then back to writing.
                run.position = before;
                st.close().expect("close");
                let mut ro = o.clone();
                ro.set_read_only(true);
                let look = reopen(&dir, &ro, &mut run);
                assert_eq!(
                    err_kind(&look.store(1, b"x")),
                    Some(ErrorKind::InvalidArgument),
                    "a read-only store took a write"
                );
                drop(look);
                st = reopen(&dir, &o, &mut run);
            }
            11 => {
                let id = id_of(r.u8());
                let len = st.payload_len(id);
                match run.model.get(&id) {
                    Some(d) => assert_eq!(len.ok(), Some(d.len())),
                    None => assert_eq!(err_kind(&len), Some(ErrorKind::NotFound)),
                }
            }
            13 => {
                let r0 = st.compact().expect("compact");
                let live: u64 = run.model.values().map(|d| HEADER + d.len() as u64).sum();
                assert_eq!(st.log_position(), 64 + live, "compacted log length");
                assert_eq!((r0.bytes_before, r0.bytes_after), (before, 64 + live));
                assert_eq!(r0.live_ids, run.model.len() as u64);
                assert_eq!(st.snapshot_position(), 64);
                run.snapshot = None;
                let names = list(&dir);
                let logs: Vec<&String> = names.iter().filter(|n| n.starts_with("wal-")).collect();
                assert_eq!(logs.len(), 1, "logs after a compaction: {names:?}");
                assert!(
                    run.auto || !names.iter().any(|n| n.starts_with("snapshot-")),
                    "a snapshot of the replaced generation is left: {names:?}"
                );
            }
            14 => write_batch(&mut r, &st, &o, &mut run, before),
            _ if o.auto_snapshot() => {}
            _ => {
                // The threshold is necessary, not sufficient: after a
                // snapshot, records or bytes proportional to its entries
                // are needed too (tested exactly in the store's tests).
                let t = o.snapshot_threshold();
                let since = before - st.snapshot_position();
                if st.should_snapshot() {
                    assert!(t != 0 && since >= t, "should_snapshot below the threshold");
                }
            }
        }
        // Only a compaction moves the log position back.
        assert!(op == 13 || st.log_position() >= before);
    }
    run.position = st.log_position();
    st.close().expect("close");
    let _ = reopen(&dir, &o, &mut run);
}

/// A batch of up to 6 stores, deletes and range deletes, applied to the
/// model in order; refused whole when a payload is over the limit.
fn write_batch(r: &mut Reader, st: &Store, o: &Options, run: &mut Run, before: u64) {
    let k = usize::from(r.u8() % 7);
    let mut owned: Vec<(u8, u64, u64, Vec<u8>)> = Vec::with_capacity(k);
    for _ in 0..k {
        match r.u8() % 3 {
            0 => owned.push((0, id_of(r.u8()), 0, payload(r))),
            1 => owned.push((1, id_of(r.u8()), 0, Vec::new())),
            _ => {
                let (a, b) = (id_of(r.u8()), id_of(r.u8()));
                owned.push((2, a.min(b), a.max(b), Vec::new()));
            }
        }
    }
    let ops: Vec<BatchOp> = owned
        .iter()
        .map(|(kind, a, b, d)| match kind {
            0 => BatchOp::Store { id: *a, data: d },
            1 => BatchOp::Delete { id: *a },
            _ => BatchOp::DeleteRange { lo: *a, hi: *b },
        })
        .collect();
    for (_, a, b, _) in &owned {
        run.ids.insert(*a);
        run.ids.insert(*b);
    }
    let res = st.write_ops(&ops);
    if owned.iter().any(|(_, _, _, d)| d.len() > o.max_payload()) {
        assert_eq!(err_kind(&res), Some(ErrorKind::InvalidArgument));
        assert_eq!(st.log_position(), before, "a refused batch wrote");
        return;
    }
    res.expect("write_batch");
    let mut bytes = if k > 1 { 2 * HEADER } else { 0 };
    for (kind, a, b, d) in owned {
        match kind {
            0 => {
                bytes += HEADER + d.len() as u64;
                run.model.insert(a, d);
            }
            1 => {
                bytes += HEADER;
                run.model.remove(&a);
            }
            _ => {
                bytes += HEADER + 8;
                run.model.retain(|id, _| !(a..=b).contains(id));
            }
        }
    }
    assert_eq!(st.log_position(), before + bytes, "write_batch length");
}

fn check_read(st: &Store, model: &Model, id: u64) {
    let got = st.retrieve(id);
    match (model.get(&id), got) {
        (Some(d), Ok(g)) => assert_eq!(&g, d, "retrieve({id}): wrong bytes"),
        (None, Err(e)) if e.kind() == ErrorKind::NotFound => {}
        (want, got) => panic!("retrieve({id}): model {want:?}, got {got:?}"),
    }
}

fn reopen(dir: &Path, o: &Options, run: &mut Run) -> Store {
    let st = Store::open(dir, o).unwrap_or_else(|e| panic!("reopen ({o:?}): {e}"));
    let rep = st.open_report();
    assert!(
        rep.torn_tail.is_none(),
        "torn tail after a clean close: {rep:?}"
    );
    assert_eq!(rep.damaged_records, 0);
    assert!(!rep.reinitialised);
    assert!(
        rep.snapshots_rejected.is_empty(),
        "{:?}",
        rep.snapshots_rejected
    );
    if run.auto {
        // The session that just closed took snapshots in the background:
        // some snapshot at or after its newest explicit one is used, and
        // becomes the reference from now on.
        let used = rep.snapshot_used;
        assert!(
            used >= run.snapshot && used.is_none_or(|p| p <= run.position),
            "snapshot used {used:?}, newest explicit {:?}",
            run.snapshot
        );
        run.snapshot = used;
    } else {
        assert_eq!(
            rep.snapshot_used, run.snapshot,
            "the newest snapshot was not used"
        );
    }
    run.auto = o.auto_snapshot() && !o.read_only();
    assert_eq!(
        st.log_position(),
        run.position,
        "the log position moved across a reopen"
    );
    assert_eq!(
        st.snapshot_position(),
        run.snapshot.unwrap_or(64),
        "snapshot position after reopen"
    );
    assert_eq!(
        observe(&st, &run.ids),
        Observed::from_model(&run.model),
        "the reopened store differs from the model"
    );
    st
}
