//! A byte-exact corruption matrix, in the spirit of LevelDB's `log_test.cc`.
//!
//! One small log of mixed operations is written through the public `Store`
//! API. A model of its records (offsets, types, sequence numbers, ids,
//! payloads, batch membership) is computed independently from the documented
//! layout, and the file is checked against it byte for byte. Then every
//! truncation length and every single-bit flip of that log is opened, and
//! the one outcome the recovery rules allow is asserted exactly: the error
//! kind and offset, or the torn tail (offset, length, side file, the log cut
//! to it) and the exact bytes of every id.
//!
//! The log holds every record type a store writes: single stores and
//! deletes, a batch of stores, a mixed batch (a range delete, a store, a
//! delete of a live id and a delete of an id that never existed) and a lone
//! range delete. A range delete's ids cannot be trusted once its payload
//! (the range's high end) is damaged, so such damage fails the open in
//! `Salvage` mode too; the matrix counts it as its own category.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use walstore::format::{FLAG_PREALLOCATED, PREALLOCATION_STEP};
use walstore::{Durability, Error, ErrorKind, Options, RecoveryMode, Store, WriteBatch};
mod common;
use common::{crc_with_log_id, tail_end, u32_at, u64_at};

const LOG_NAME: &str = "wal-0000000000000001.log";
const FILE_HEADER_LEN: u64 = 64;
const RECORD_HEADER_LEN: u64 = 32;

// ---------------------------------------------------------------------------
// The operations that build the pristine log.

enum Op {
    Put(u64, &'static [u8]),
    Delete(u64),
    Batch(&'static [(u64, &'static [u8])]),
    /// A mixed batch, through `Store::write_batch`.
    Mixed(&'static [MixedOp]),
    /// A lone range delete of `lo..=hi`, through `Store::delete_range`.
    DeleteRange(u64, u64),
}

/// One operation of a mixed batch (the test's own type, so that the model
/// does not lean on the library's).
enum MixedOp {
    Put(u64, &'static [u8]),
    /// A delete; the id need not be live.
    Delete(u64),
    Range(u64, u64),
}

/// Single stores (one of zero length, one overwriting an earlier id), a
/// delete, a batch of three (overwriting id 3, and holding id 3 twice: the
/// later entry wins), stores and a delete after the batch, a mixed batch
/// (a store of id 3, then a range delete of ids 2 and 3 that deletes both
/// ends, the store before it included, and spares id 1 below it; a store of
/// a new id, a delete of the live id 6 and one of id 42, which never
/// existed), a lone range delete from id 1 to id 7 (it deletes id 1 and
/// spares id 8 above it), and a single store as the last record. Between
/// them the two ranges tell an end that is wrongly excluded or a neighbour
/// that is wrongly included from the right answer.
const OPS: &[Op] = &[
    Op::Put(1, b"alpha"),
    Op::Put(2, b""),
    Op::Put(3, b"charlie-3"),
    Op::Put(4, b"delta-delta"),
    Op::Put(1, b"alpha, second version"),
    Op::Delete(4),
    Op::Batch(&[(3, b"charlie-batch"), (5, b"echo"), (3, b"charlie-final")]),
    Op::Put(6, b"foxtrot"),
    Op::Delete(5),
    Op::Mixed(&[
        MixedOp::Put(3, b"hotel: deleted by the range after it"),
        MixedOp::Range(2, 3),
        MixedOp::Put(8, b"india"),
        MixedOp::Delete(6),
        MixedOp::Delete(42),
    ]),
    Op::DeleteRange(1, 7),
    Op::Put(7, b"golf: the last record"),
];

fn run_ops(store: &Store, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(id, data) => store.store(*id, data).unwrap(),
            Op::Delete(id) => store.delete(*id).unwrap(),
            Op::Batch(entries) => store.store_batch(entries).unwrap(),
            Op::Mixed(mixed) => {
                let mut b = WriteBatch::new();
                for m in mixed.iter() {
                    match m {
                        MixedOp::Put(id, data) => b.store(*id, data),
                        MixedOp::Delete(id) => b.delete(*id),
                        MixedOp::Range(lo, hi) => b.delete_range(*lo, *hi),
                    };
                }
                store.write_batch(&b).unwrap();
            }
            Op::DeleteRange(lo, hi) => {
                store.delete_range(*lo, *hi).unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The model: what the log must hold, from the layout rules alone.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put = 1,
    Delete = 2,
    BatchBegin = 3,
    BatchCommit = 4,
    /// Id = the low end, payload = the high end (u64 LE); both included.
    DeleteRange = 5,
}

#[derive(Debug)]
struct Rec {
    offset: u64,
    kind: Kind,
    seq: u64,
    id: u64,
    payload: Vec<u8>,
    /// Index of the commit group: a single record, or a whole batch.
    group: usize,
}

impl Rec {
    fn payload_start(&self) -> u64 {
        self.offset + RECORD_HEADER_LEN
    }

    fn end(&self) -> u64 {
        self.payload_start() + self.payload.len() as u64
    }

    fn is_op(&self) -> bool {
        matches!(self.kind, Kind::Put | Kind::Delete | Kind::DeleteRange)
    }

    /// The high end of a range delete, from its payload.
    fn range_hi(&self) -> u64 {
        assert_eq!(self.kind, Kind::DeleteRange, "{self:?}");
        u64::from_le_bytes(self.payload[..].try_into().unwrap())
    }
}

/// A commit group: `[start, end)` of the log.
#[derive(Debug)]
struct Group {
    start: u64,
    end: u64,
}

/// What an id must read back as. An id missing from a `State` must read
/// `NotFound`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    Bytes(Vec<u8>),
    /// Salvage found its newest record (at this offset) damaged.
    Damaged(u64),
}

type State = BTreeMap<u64, Want>;

#[derive(Debug)]
struct Model {
    recs: Vec<Rec>,
    groups: Vec<Group>,
}

impl Model {
    fn from_ops(ops: &[Op]) -> Model {
        let mut m = Model {
            recs: Vec::new(),
            groups: Vec::new(),
        };
        for (group, op) in ops.iter().enumerate() {
            let start = m.end();
            match op {
                Op::Put(id, data) => m.push(Kind::Put, *id, data, group),
                Op::Delete(id) => m.push(Kind::Delete, *id, b"", group),
                Op::Batch([(id, data)]) => m.push(Kind::Put, *id, data, group),
                Op::Batch(entries) => {
                    let n = entries.len() as u64;
                    m.push(Kind::BatchBegin, n, b"", group);
                    for (id, data) in entries.iter() {
                        m.push(Kind::Put, *id, data, group);
                    }
                    m.push(Kind::BatchCommit, n, b"", group);
                }
                Op::Mixed(ops) => {
                    let framed = ops.len() > 1;
                    let n = ops.len() as u64;
                    if framed {
                        m.push(Kind::BatchBegin, n, b"", group);
                    }
                    for op in ops.iter() {
                        match op {
                            MixedOp::Put(id, data) => m.push(Kind::Put, *id, data, group),
                            MixedOp::Delete(id) => m.push(Kind::Delete, *id, b"", group),
                            MixedOp::Range(lo, hi) => {
                                m.push(Kind::DeleteRange, *lo, &hi.to_le_bytes(), group)
                            }
                        }
                    }
                    if framed {
                        m.push(Kind::BatchCommit, n, b"", group);
                    }
                }
                Op::DeleteRange(lo, hi) => m.push(Kind::DeleteRange, *lo, &hi.to_le_bytes(), group),
            }
            let end = m.end();
            m.groups.push(Group { start, end });
        }
        m
    }

    fn push(&mut self, kind: Kind, id: u64, payload: &[u8], group: usize) {
        let seq = self.recs.last().map_or(1, |r| r.seq + 1);
        let offset = self.end();
        self.recs.push(Rec {
            offset,
            kind,
            seq,
            id,
            payload: payload.to_vec(),
            group,
        });
    }

    /// End of the last record: the length of the pristine log.
    fn end(&self) -> u64 {
        self.recs.last().map_or(FILE_HEADER_LEN, Rec::end)
    }

    /// Every id any store or delete names, and the ends of every range
    /// delete and the ids just outside them.
    fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = Vec::new();
        for r in self.recs.iter().filter(|r| r.is_op()) {
            ids.push(r.id);
            if r.kind == Kind::DeleteRange {
                let hi = r.range_hi();
                ids.extend(r.id.checked_sub(1));
                ids.push(hi);
                ids.extend(hi.checked_add(1));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The state after the first `groups` commit groups, with record
    /// `damaged` (a store) marked damaged.
    fn state(&self, groups: usize, damaged: Option<usize>) -> State {
        let mut s = State::new();
        for (i, r) in self.recs.iter().enumerate() {
            if r.group >= groups {
                break;
            }
            match r.kind {
                Kind::Put if damaged == Some(i) => s.insert(r.id, Want::Damaged(r.offset)),
                Kind::Put => s.insert(r.id, Want::Bytes(r.payload.clone())),
                Kind::Delete => s.remove(&r.id),
                Kind::DeleteRange => {
                    let hi = r.range_hi();
                    s.retain(|id, _| !(r.id..=hi).contains(id));
                    None
                }
                Kind::BatchBegin | Kind::BatchCommit => None,
            };
        }
        s
    }

    /// Store, delete and range delete records in the first `groups` commit
    /// groups (what `OpenReport::records_replayed` counts).
    fn replayed(&self, groups: usize) -> u64 {
        self.recs
            .iter()
            .filter(|r| r.group < groups && r.is_op())
            .count() as u64
    }

    /// Commit groups wholly inside the first `len` bytes.
    fn groups_within(&self, len: u64) -> usize {
        self.groups.iter().take_while(|g| g.end <= len).count()
    }

    /// Where the first `groups` commit groups end.
    fn boundary(&self, groups: usize) -> u64 {
        match groups {
            0 => FILE_HEADER_LEN,
            n => self.groups[n - 1].end,
        }
    }

    fn rec_at(&self, byte: u64) -> usize {
        self.recs
            .iter()
            .position(|r| r.offset <= byte && byte < r.end())
            .unwrap_or_else(|| panic!("byte {byte} is in no record"))
    }

    /// True when a whole, valid record follows record `i` that counts as
    /// "later": anything outside its batch, or its batch's commit.
    fn valid_record_after(&self, i: usize) -> bool {
        let g = self.recs[i].group;
        self.recs[i + 1..]
            .iter()
            .any(|r| r.group != g || r.kind == Kind::BatchCommit)
    }

    /// The one designed outcome of flipping a bit of byte `byte`.
    fn expect_flip(&self, byte: u64, mode: RecoveryMode) -> Expect {
        match byte {
            0..=11 => return Expect::Incompatible,
            12..=63 => return Expect::FileHeaderCorruption,
            _ => {}
        }
        let i = self.rec_at(byte);
        let r = &self.recs[i];
        let in_header = byte < r.payload_start();
        if !self.valid_record_after(i) {
            return Expect::Tail { group: r.group };
        }
        match (in_header, mode) {
            (true, _) => Expect::RecordHeaderCorruption { offset: r.offset },
            // The range's high end is the payload: with it damaged, which
            // ids the record deleted cannot be known, whatever the mode.
            (false, _) if r.kind == Kind::DeleteRange => {
                Expect::RangePayloadCorruption { offset: r.offset }
            }
            (false, RecoveryMode::Salvage) => Expect::Salvaged {
                rec: i,
                superseded: !self
                    .state(self.groups.len(), Some(i))
                    .values()
                    .any(|w| matches!(w, Want::Damaged(_))),
            },
            (false, _) => Expect::PayloadCorruption { offset: r.offset },
        }
    }
}

#[derive(Debug)]
enum Expect {
    Incompatible,
    FileHeaderCorruption,
    RecordHeaderCorruption {
        offset: u64,
    },
    PayloadCorruption {
        offset: u64,
    },
    /// The payload of a range delete (its high end) is damaged: the open
    /// fails in every mode, `Salvage` included.
    RangePayloadCorruption {
        offset: u64,
    },
    /// A torn tail from the start of this commit group.
    Tail {
        group: usize,
    },
    /// A `Salvage` open with this record damaged; `superseded` when a later
    /// store or delete of its id hides the damage.
    Salvaged {
        rec: usize,
        superseded: bool,
    },
}

impl Expect {
    fn category(&self) -> &'static str {
        match self {
            Expect::Incompatible => "incompatible (magic/version)",
            Expect::FileHeaderCorruption => "corruption at 0 (file header)",
            Expect::RecordHeaderCorruption { .. } => "corruption (record header)",
            Expect::PayloadCorruption { .. } => "corruption (payload)",
            Expect::RangePayloadCorruption { .. } => "corruption (range delete payload)",
            Expect::Tail { .. } => "torn tail cut",
            Expect::Salvaged {
                superseded: false, ..
            } => "salvaged, id reads Corruption",
            Expect::Salvaged {
                superseded: true, ..
            } => "salvaged, damage superseded",
        }
    }
}

// ---------------------------------------------------------------------------
// Fixtures.

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

fn new_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("walstore-corruption-matrix-")
        .tempdir_in(scratch_root())
        .unwrap()
}

fn opts(mode: RecoveryMode) -> Options {
    let mut o = Options::default();
    o.set_recovery(mode).set_durability(Durability::Flush);
    o
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_NAME)
}

struct Pristine {
    dir: TempDir,
    log: Vec<u8>,
    model: Model,
}

impl Pristine {
    /// Writes the log through the API and pins its layout to the model.
    /// Without `preallocated`, the header's PREALLOCATED flag is cleared, as
    /// in a log that walstore 0.2 wrote: the older rules must hold for it.
    fn build(preallocated: bool) -> Pristine {
        let dir = new_dir();
        let store = Store::open(dir.path(), &opts(RecoveryMode::Strict)).unwrap();
        run_ops(&store, OPS);
        store.close().unwrap();
        let mut log = fs::read(log_path(dir.path())).unwrap();
        if !preallocated {
            log[12] &= !FLAG_PREALLOCATED as u8;
            let crc = crc32fast::hash(&log[..60]);
            log[60..64].copy_from_slice(&crc.to_le_bytes());
            fs::write(log_path(dir.path()), &log).unwrap();
        }
        let model = Model::from_ops(OPS);
        check_layout(&log, &model, preallocated);
        Pristine { dir, log, model }
    }

    /// The pristine log with its header's PREALLOCATED flag, and without.
    fn both() -> [Pristine; 2] {
        [Pristine::build(true), Pristine::build(false)]
    }

    fn len(&self) -> u64 {
        self.log.len() as u64
    }

    /// A copy of the pristine store directory whose log holds `log`. Its
    /// trailing zeros come from growing the file rather than writing them:
    /// the same bytes, without writing a mebibyte of free space per case.
    fn copy_with_log(&self, log: &[u8]) -> TempDir {
        let d = new_dir();
        for e in fs::read_dir(self.dir.path()).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
        }
        let written = log.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        fs::write(log_path(d.path()), &log[..written]).unwrap();
        let f = fs::OpenOptions::new()
            .write(true)
            .open(log_path(d.path()))
            .unwrap();
        f.set_len(log.len() as u64).unwrap();
        d
    }

    /// The full state of the pristine log.
    fn full_state(&self) -> State {
        self.model.state(self.model.groups.len(), None)
    }
}

fn check_layout(log: &[u8], m: &Model, preallocated: bool) {
    assert_eq!(log.len() as u64, m.end(), "log length vs model");
    assert_eq!(&log[0..8], b"WALSTORE");
    assert_eq!(u32_at(log, 8), 1, "format version");
    let flags = if preallocated { FLAG_PREALLOCATED } else { 0 };
    assert_eq!(u32_at(log, 12), flags, "flags");
    assert_eq!(u64_at(log, 24), 1, "generation");
    assert!(log[40..60].iter().all(|&b| b == 0), "reserved bytes");
    assert_eq!(u32_at(log, 60), crc32fast::hash(&log[..60]), "file CRC");
    let log_id = u64_at(log, 16);
    for r in &m.recs {
        let h = &log[r.offset as usize..r.payload_start() as usize];
        let ctx = format!("{r:?}");
        assert_eq!(h[0], r.kind as u8, "type of {ctx}");
        assert_eq!(h[1..4], [0, 0, 0], "flags/reserved of {ctx}");
        assert_eq!(u32_at(h, 4) as usize, r.payload.len(), "length of {ctx}");
        assert_eq!(u64_at(h, 8), r.seq, "seq of {ctx}");
        assert_eq!(u64_at(h, 16), r.id, "id of {ctx}");
        assert_eq!(
            u32_at(h, 24),
            crc_with_log_id(log_id, &r.payload),
            "payload CRC of {ctx}"
        );
        assert_eq!(
            u32_at(h, 28),
            crc_with_log_id(log_id, &h[..28]),
            "header CRC of {ctx}"
        );
        assert_eq!(
            &log[r.payload_start() as usize..r.end() as usize],
            &r.payload[..],
            "payload of {ctx}"
        );
    }
}

// ---------------------------------------------------------------------------
// Assertions.

fn cut_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().contains(".cut-"))
        .collect();
    v.sort();
    v
}

/// Every id in `ids` or `want` reads back exactly as `want` says.
fn check_state(store: &Store, ids: &[u64], want: &State, ctx: &str) {
    let log = log_path(store.dir());
    for id in ids.iter().chain(want.keys()) {
        match (want.get(id), store.retrieve(*id)) {
            (None, Err(e)) => assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}: id {id}: {e}"),
            (Some(Want::Bytes(b)), Ok(got)) => {
                assert_eq!(&got, b, "{ctx}: id {id}");
                assert_eq!(store.payload_len(*id).unwrap(), b.len(), "{ctx}: id {id}");
            }
            (Some(Want::Damaged(off)), Err(Error::Corruption { path, offset, .. })) => {
                assert_eq!(offset, *off, "{ctx}: id {id}: corruption offset");
                assert_eq!(path, log, "{ctx}: id {id}");
            }
            (w, got) => panic!("{ctx}: id {id}: want {w:?}, got {got:?}"),
        }
    }
    assert_eq!(store.len(), want.len(), "{ctx}: live ids");
    let damaged: Vec<u64> = want
        .iter()
        .filter(|(_, w)| matches!(w, Want::Damaged(_)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(store.damaged_ids(), damaged, "{ctx}: damaged ids");
}

fn expect_corruption(r: Result<Store, Error>, dir: &Path, want_offset: u64, ctx: &str) {
    match r {
        Err(Error::Corruption { path, offset, .. }) => {
            assert_eq!(offset, want_offset, "{ctx}: corruption offset");
            assert_eq!(path, log_path(dir), "{ctx}: corruption path");
        }
        other => panic!("{ctx}: want Corruption at {want_offset}, got {other:?}"),
    }
}

/// The log still holds exactly `log` and nothing was cut.
fn assert_untouched(dir: &Path, log: &[u8], ctx: &str) {
    assert!(
        fs::read(log_path(dir)).unwrap() == log,
        "{ctx}: log file changed"
    );
    assert_eq!(cut_files(dir), Vec::<PathBuf>::new(), "{ctx}: side files");
}

/// The open reported no tail and cut nothing.
fn assert_no_tail(store: &Store, log: &[u8], ctx: &str) {
    assert_eq!(store.open_report().torn_tail, None, "{ctx}: torn tail");
    assert!(!store.open_report().reinitialised, "{ctx}: reinitialised");
    assert_untouched(store.dir(), log, ctx);
}

/// `log` followed by zeros up to the next multiple of the preallocation
/// step: what a crash leaves of a preallocated log whose last writes never
/// reached the disk.
fn padded(log: &[u8]) -> Vec<u8> {
    let mut v = log.to_vec();
    v.resize(
        (log.len() as u64).next_multiple_of(PREALLOCATION_STEP) as usize,
        0,
    );
    v
}

/// The open cut `log[offset..]`: reported exactly, saved to one side file
/// holding exactly those bytes (up to `tail_end`), and the log now ends at
/// `offset`.
fn assert_tail_cut(store: &Store, log: &[u8], offset: u64, ctx: &str) {
    let end = tail_end(log, offset);
    let dir = store.dir();
    let report = store.open_report();
    assert!(!report.reinitialised, "{ctx}: reinitialised");
    let tail = report
        .torn_tail
        .as_ref()
        .unwrap_or_else(|| panic!("{ctx}: no torn tail reported"));
    assert_eq!(tail.offset, offset, "{ctx}: tail offset");
    assert_eq!(tail.bytes, end as u64 - offset, "{ctx}: tail bytes");
    let saved = tail
        .saved_to
        .clone()
        .expect("a writable open saves the tail");
    assert_eq!(saved.parent(), Some(dir), "{ctx}: side file directory");
    let name = saved.file_name().unwrap().to_str().unwrap();
    let prefix = format!("{LOG_NAME}.cut-{offset:016x}-");
    let nanos = name
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{ctx}: side file {name} lacks prefix {prefix}"));
    assert!(
        !nanos.is_empty() && nanos.bytes().all(|b| b.is_ascii_digit()),
        "{ctx}: side file name {name}"
    );
    assert_eq!(cut_files(dir), vec![saved.clone()], "{ctx}: side files");
    assert!(
        fs::read(&saved).unwrap() == log[offset as usize..end],
        "{ctx}: side file content"
    );
    assert!(
        fs::read(log_path(dir)).unwrap() == log[..offset as usize],
        "{ctx}: log after the cut"
    );
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn layout_matches_the_model() {
    for p in Pristine::both() {
        // Pin the shape of the model itself, so a mistake in it cannot hide.
        let kinds: Vec<Kind> = p.model.recs.iter().map(|r| r.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                Put,
                Put,
                Put,
                Put,
                Put,
                Delete,
                BatchBegin,
                Put,
                Put,
                Put,
                BatchCommit,
                Put,
                Delete,
                BatchBegin,
                Put,
                DeleteRange,
                Put,
                Delete,
                Delete,
                BatchCommit,
                DeleteRange,
                Put
            ]
        );
        assert_eq!(p.model.groups.len(), OPS.len());
        assert_eq!(p.model.recs[6].id, 3, "batch begin carries the count");
        // The mixed batch: its framing counts its 5 operation records; the range
        // deletes carry the low end as the id and the high end as the payload.
        assert_eq!((p.model.recs[13].id, p.model.recs[19].id), (5, 5));
        assert_eq!((p.model.recs[15].id, p.model.recs[15].range_hi()), (2, 3));
        assert_eq!(p.model.recs[15].payload, [3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((p.model.recs[20].id, p.model.recs[20].range_hi()), (1, 7));
        assert_eq!(p.model.recs[20].group, p.model.recs[19].group + 1);
        assert_eq!(p.model.recs.last().unwrap().kind, Put);
        assert_eq!(p.model.recs.last().unwrap().group, OPS.len() - 1);
        // Before the mixed batch...
        let mut want = State::new();
        want.insert(1, Want::Bytes(b"alpha, second version".to_vec()));
        want.insert(2, Want::Bytes(Vec::new()));
        want.insert(3, Want::Bytes(b"charlie-final".to_vec()));
        want.insert(6, Want::Bytes(b"foxtrot".to_vec()));
        assert_eq!(p.model.state(9, None), want);
        // ...after it (2 and 3 gone, 8 new, 6 gone)...
        want.remove(&2);
        want.remove(&3);
        want.insert(8, Want::Bytes(b"india".to_vec()));
        want.remove(&6);
        assert_eq!(p.model.state(10, None), want);
        // ...after the lone range delete (1 gone, 8 kept), and at the end.
        want.remove(&1);
        assert_eq!(p.model.state(11, None), want);
        want.insert(7, Want::Bytes(b"golf: the last record".to_vec()));
        assert_eq!(p.full_state(), want);
        assert_eq!(p.model.replayed(OPS.len()), 12 + 5 + 1);
        assert_eq!(
            p.model.ids(),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 42],
            "ids checked in every outcome"
        );

        let d = p.copy_with_log(&p.log);
        let s = Store::open(d.path(), &opts(RecoveryMode::Absolute)).unwrap();
        assert_no_tail(&s, &p.log, "pristine");
        assert_eq!(
            s.open_report().records_replayed,
            p.model.replayed(OPS.len())
        );
        assert_eq!(s.open_report().damaged_records, 0);
        check_state(&s, &p.model.ids(), &want, "pristine");
    }
}

/// The log cut to `len` bytes, and with `pad` followed by free space.
fn check_truncation(p: &Pristine, len: u64, mode: RecoveryMode, pad: bool) {
    let ctx = format!("{mode:?}, truncated to {len}, padded {pad}");
    let cut = &p.log[..len as usize];
    let log = &if pad { padded(cut) } else { cut.to_vec() }[..];
    let d = p.copy_with_log(log);
    let ids = p.model.ids();
    let s = Store::open(d.path(), &opts(mode)).unwrap();
    let mut want = if len < FILE_HEADER_LEN {
        let r = s.open_report();
        assert!(r.reinitialised, "{ctx}: reinitialised");
        assert_eq!(r.torn_tail, None, "{ctx}: torn tail");
        assert_eq!(r.records_replayed, 0, "{ctx}: records replayed");
        assert_eq!(cut_files(d.path()), Vec::<PathBuf>::new(), "{ctx}");
        let now = fs::metadata(log_path(d.path())).unwrap().len();
        assert_eq!(
            now, FILE_HEADER_LEN,
            "{ctx}: log re-initialised to a header"
        );
        State::new()
    } else {
        // Padding gives back the zeros the cut took off (a payload ending
        // in zeros): the log then reads as cut after them.
        let seen = if pad {
            len + p.log[len as usize..]
                .iter()
                .take_while(|&&b| b == 0)
                .count() as u64
        } else {
            len
        };
        let groups = p.model.groups_within(seen);
        let boundary = p.model.boundary(groups);
        if boundary == seen {
            assert_no_tail(&s, log, &ctx);
        } else {
            assert_tail_cut(&s, log, boundary, &ctx);
        }
        let r = s.open_report();
        assert_eq!(r.records_replayed, p.model.replayed(groups), "{ctx}");
        assert_eq!(r.damaged_records, 0, "{ctx}");
        p.model.state(groups, None)
    };
    check_state(&s, &ids, &want, &ctx);
    let replayed = s.open_report().records_replayed;

    let new_id = 1000;
    let new_payload = format!("written after truncating to {len}").into_bytes();
    s.store(new_id, &new_payload).unwrap();
    s.close().unwrap();
    want.insert(new_id, Want::Bytes(new_payload));

    let s = Store::open(d.path(), &opts(mode)).unwrap();
    let r = s.open_report();
    assert_eq!(r.torn_tail, None, "{ctx}, reopened: torn tail");
    assert!(!r.reinitialised, "{ctx}, reopened: reinitialised");
    assert_eq!(r.records_replayed, replayed + 1, "{ctx}, reopened");
    check_state(&s, &ids, &want, &format!("{ctx}, reopened"));
    s.close().unwrap();
}

#[test]
fn truncation_matrix() {
    for p in Pristine::both() {
        let (mut reinit, mut boundary, mut tail) = (0, 0, 0);
        for len in 0..=p.len() {
            for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
                check_truncation(&p, len, mode, false);
            }
            if len < FILE_HEADER_LEN {
                reinit += 1;
            } else if p.model.boundary(p.model.groups_within(len)) == len {
                boundary += 1;
            } else {
                tail += 1;
            }
        }
        eprintln!(
            "truncation matrix ({} lengths x Strict, Salvage): {reinit} re-initialised, \
         {boundary} at a commit boundary, {tail} torn tails cut",
            p.len() + 1
        );
        assert_eq!(boundary, OPS.len() + 1);
        assert_eq!(reinit + boundary + tail, p.len() as usize + 1);
    }
}

/// A crash of a preallocated log: every length the writes may have reached
/// the disk to (from a whole header on: the header is durable before any
/// record is written), then zeros to the step. A cut at a commit boundary
/// leaves free space and no tail; any other cut is a torn tail, which ends
/// where `tail_end` says.
#[test]
fn truncation_then_free_space_matrix() {
    let p = Pristine::build(true);
    for len in FILE_HEADER_LEN..=p.len() {
        check_truncation(&p, len, RecoveryMode::Strict, true);
    }
}

#[test]
fn absolute_refuses_every_torn_tail() {
    for p in Pristine::both() {
        let mut refused = 0;
        for len in FILE_HEADER_LEN..=p.len() {
            let ctx = format!("Absolute, truncated to {len}");
            let log = &p.log[..len as usize];
            let d = p.copy_with_log(log);
            let groups = p.model.groups_within(len);
            let boundary = p.model.boundary(groups);
            let r = Store::open(d.path(), &opts(RecoveryMode::Absolute));
            if boundary == len {
                let s = r.unwrap();
                assert_no_tail(&s, log, &ctx);
                check_state(&s, &p.model.ids(), &p.model.state(groups, None), &ctx);
            } else {
                expect_corruption(r, d.path(), boundary, &ctx);
                assert_untouched(d.path(), log, &ctx);
                refused += 1;
            }
        }
        eprintln!("absolute: {refused} torn tails refused");
        assert_eq!(refused, p.len() - FILE_HEADER_LEN - OPS.len() as u64);
    }
}

/// Opens a copy of the pristine store whose log is `log` (one bit flipped)
/// and asserts `expect` exactly.
fn check_flip(p: &Pristine, log: &[u8], mode: RecoveryMode, expect: &Expect, ctx: &str) {
    let d = p.copy_with_log(log);
    let r = Store::open(d.path(), &opts(mode));
    let ids = p.model.ids();
    match *expect {
        Expect::Incompatible => match r {
            Err(e @ Error::Incompatible { .. }) => {
                assert_eq!(e.kind(), ErrorKind::Incompatible, "{ctx}");
                assert_untouched(d.path(), log, ctx);
            }
            other => panic!("{ctx}: want Incompatible, got {other:?}"),
        },
        Expect::FileHeaderCorruption => {
            expect_corruption(r, d.path(), 0, ctx);
            assert_untouched(d.path(), log, ctx);
        }
        Expect::RecordHeaderCorruption { offset }
        | Expect::PayloadCorruption { offset }
        | Expect::RangePayloadCorruption { offset } => {
            expect_corruption(r, d.path(), offset, ctx);
            assert_untouched(d.path(), log, ctx);
        }
        Expect::Tail { group } => {
            let s = r.unwrap_or_else(|e| panic!("{ctx}: want a tail cut, got {e:?}"));
            assert_tail_cut(&s, log, p.model.groups[group].start, ctx);
            assert_eq!(s.open_report().records_replayed, p.model.replayed(group));
            assert_eq!(s.open_report().damaged_records, 0, "{ctx}");
            check_state(&s, &ids, &p.model.state(group, None), ctx);
        }
        Expect::Salvaged { rec, .. } => {
            let s = r.unwrap_or_else(|e| panic!("{ctx}: want a salvage open, got {e:?}"));
            assert_no_tail(&s, log, ctx);
            let all = p.model.groups.len();
            assert_eq!(s.open_report().records_replayed, p.model.replayed(all));
            assert_eq!(s.open_report().damaged_records, 1, "{ctx}");
            check_state(&s, &ids, &p.model.state(all, Some(rec)), ctx);
        }
    }
}

#[test]
fn bit_flip_matrix() {
    for p in Pristine::both() {
        let mut counts: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
        let mut total = 0usize;
        for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
            for bit in 0..p.log.len() * 8 {
                let byte = bit / 8;
                let mut log = p.log.clone();
                log[byte] ^= 1 << (bit % 8);
                let expect = p.model.expect_flip(byte as u64, mode);
                let ctx = format!("{mode:?}, bit {} of byte {byte}: {expect:?}", bit % 8);
                check_flip(&p, &log, mode, &expect, &ctx);
                *counts
                    .entry((format!("{mode:?}"), expect.category()))
                    .or_default() += 1;
                total += 1;
            }
        }
        eprintln!("bit-flip matrix over a {}-byte log:", p.len());
        for ((mode, category), n) in &counts {
            eprintln!("  {mode:8} {category:46} {n:6}");
        }
        eprintln!("  total {total}");
        assert_eq!(total, 2 * 8 * p.log.len());

        // Every category the design has must have been exercised.
        let count = |mode: &str, cat: &str| {
            counts
                .iter()
                .filter(|((m, c), _)| m == mode && *c == cat)
                .map(|(_, n)| *n)
                .sum::<usize>()
        };
        for mode in ["Strict", "Salvage"] {
            assert_eq!(count(mode, "incompatible (magic/version)"), 12 * 8);
            assert_eq!(count(mode, "corruption at 0 (file header)"), 52 * 8);
            assert!(count(mode, "corruption (record header)") > 0);
            assert!(count(mode, "torn tail cut") > 0);
        }
        assert!(count("Strict", "corruption (payload)") > 0);
        assert_eq!(count("Salvage", "corruption (payload)"), 0);
        // Both range deletes are followed by valid records: each of the 64 bits
        // of their 8-byte payloads fails the open, in both modes.
        for mode in ["Strict", "Salvage"] {
            assert_eq!(count(mode, "corruption (range delete payload)"), 2 * 64);
        }
        assert!(count("Salvage", "salvaged, id reads Corruption") > 0);
        assert!(count("Salvage", "salvaged, damage superseded") > 0);
        assert_eq!(
            count("Salvage", "salvaged, id reads Corruption")
                + count("Salvage", "salvaged, damage superseded"),
            count("Strict", "corruption (payload)")
        );
    }
}

/// The bit-flip matrix on what a crash leaves of a preallocated log: the
/// records, then free space to the step. Every flip in the records has the
/// outcome it has without the free space (the zeros are never evidence of
/// later records, and a tail ends where `tail_end` says). A flipped bit in
/// the free space makes it a torn tail from the last record's end to that
/// byte: cut by Strict and Salvage, refused by Absolute.
#[test]
fn bit_flip_then_free_space_matrix() {
    let p = Pristine::build(true);
    let padded_log = padded(&p.log);
    let mut cases = 0;
    for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
        for bit in 0..p.log.len() * 8 {
            let byte = bit / 8;
            let mut log = padded_log.clone();
            log[byte] ^= 1 << (bit % 8);
            let expect = p.model.expect_flip(byte as u64, mode);
            let ctx = format!(
                "{mode:?}, padded, bit {} of byte {byte}: {expect:?}",
                bit % 8
            );
            check_flip(&p, &log, mode, &expect, &ctx);
            cases += 1;
        }
    }
    let free = padded_log.len() - p.log.len();
    for at in [0, 1, 31, 32, 4095, free / 2, free - 1] {
        let byte = p.log.len() + at;
        let mut log = padded_log.clone();
        log[byte] = 0x80;
        for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
            let ctx = format!("{mode:?}, a non-zero byte {at} bytes into the free space");
            let d = p.copy_with_log(&log);
            let s = Store::open(d.path(), &opts(mode)).unwrap();
            assert_eq!(tail_end(&log, p.len()), byte + 1, "{ctx}");
            assert_tail_cut(&s, &log, p.len(), &ctx);
            let all = p.model.groups.len();
            check_state(&s, &p.model.ids(), &p.model.state(all, None), &ctx);
            cases += 1;
        }
        let d = p.copy_with_log(&log);
        let ctx = format!("Absolute, a non-zero byte {at} bytes into the free space");
        expect_corruption(
            Store::open(d.path(), &opts(RecoveryMode::Absolute)),
            d.path(),
            p.len(),
            &ctx,
        );
        assert_untouched(d.path(), &log, &ctx);
        cases += 1;
    }
    assert_eq!(cases, 2 * 8 * p.log.len() + 7 * 3);
}

/// In a log without the PREALLOCATED flag, or whose length is not a
/// multiple of the preallocation step (walstore's allocation always leaves
/// one), zeros after the last record are what a crash leaves when the
/// file's size reached the disk before its bytes: a torn tail.
#[test]
fn zero_filled_tail_is_cut_and_new_writes_survive() {
    for p in Pristine::both() {
        let ids = p.model.ids();
        let old_end = p.len();
        for zeros in [1usize, 31, 32, 100, 4096] {
            let mut log = p.log.clone();
            log.resize(log.len() + zeros, 0);

            let ctx = format!("Absolute, {zeros} zero bytes appended");
            let d = p.copy_with_log(&log);
            let r = Store::open(d.path(), &opts(RecoveryMode::Absolute));
            expect_corruption(r, d.path(), old_end, &ctx);
            assert_untouched(d.path(), &log, &ctx);

            for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
                let ctx = format!("{mode:?}, {zeros} zero bytes appended");
                let d = p.copy_with_log(&log);
                let s = Store::open(d.path(), &opts(mode)).unwrap();
                assert_tail_cut(&s, &log, old_end, &ctx);
                let mut want = p.full_state();
                check_state(&s, &ids, &want, &ctx);
                s.store(2000, b"after the zeros").unwrap();
                s.store_batch(&[(2001, b"batch one"), (2, b"two, rewritten")])
                    .unwrap();
                s.close().unwrap();
                want.insert(2000, Want::Bytes(b"after the zeros".to_vec()));
                want.insert(2001, Want::Bytes(b"batch one".to_vec()));
                want.insert(2, Want::Bytes(b"two, rewritten".to_vec()));

                let s = Store::open(d.path(), &opts(mode)).unwrap();
                assert_eq!(s.open_report().torn_tail, None, "{ctx}, reopened");
                check_state(&s, &ids, &want, &format!("{ctx}, reopened"));
                s.close().unwrap();
            }
        }
    }
}

/// In a preallocated log whose length is a multiple of the step, zeros
/// after the last record are free space that `fallocate` added: every mode
/// opens with no tail and cuts nothing, and new records go where the zeros
/// begin. Damage before the zeros is still a torn tail, which ends at the
/// last non-zero byte or the end its intact header gives.
#[test]
fn zeros_after_the_last_record_of_a_preallocated_log_are_free_space() {
    let p = Pristine::build(true);
    let ids = p.model.ids();
    let old_end = p.len();
    for steps in [1, 2] {
        let mut log = p.log.clone();
        log.resize(steps * PREALLOCATION_STEP as usize, 0);
        let zeros = log.len() - p.log.len();
        for mode in [
            RecoveryMode::Strict,
            RecoveryMode::Salvage,
            RecoveryMode::Absolute,
        ] {
            let ctx = format!("{mode:?}, {zeros} zero bytes appended");
            let d = p.copy_with_log(&log);
            let s = Store::open(d.path(), &opts(mode)).unwrap();
            assert_no_tail(&s, &log, &ctx);
            assert_eq!(s.log_position(), old_end, "{ctx}");
            let mut want = p.full_state();
            check_state(&s, &ids, &want, &ctx);
            s.store(2000, b"after the zeros").unwrap();
            s.store_batch(&[(2001, b"batch one"), (2, b"two, rewritten")])
                .unwrap();
            let end = s.log_position();
            s.close().unwrap();
            want.insert(2000, Want::Bytes(b"after the zeros".to_vec()));
            want.insert(2001, Want::Bytes(b"batch one".to_vec()));
            want.insert(2, Want::Bytes(b"two, rewritten".to_vec()));
            let closed = fs::read(log_path(d.path())).unwrap();
            assert_eq!(
                closed.len() as u64,
                end,
                "{ctx}: a close gives the zeros back"
            );
            assert!(
                closed[..old_end as usize] == p.log[..],
                "{ctx}: old records kept"
            );

            let s = Store::open(d.path(), &opts(mode)).unwrap();
            assert_no_tail(&s, &closed, &format!("{ctx}, reopened"));
            check_state(&s, &ids, &want, &format!("{ctx}, reopened"));
            s.close().unwrap();
        }
    }

    let last = p.model.recs.last().unwrap();
    for torn in [1, RECORD_HEADER_LEN, last.end() - last.offset - 1] {
        let log = padded(&p.log[..(last.offset + torn) as usize]);
        let ctx = format!("last record torn after {torn} bytes, then zeros");

        let d = p.copy_with_log(&log);
        let r = Store::open(d.path(), &opts(RecoveryMode::Absolute));
        expect_corruption(r, d.path(), last.offset, &ctx);
        assert_untouched(d.path(), &log, &ctx);

        let d = p.copy_with_log(&log);
        let s = Store::open(d.path(), &opts(RecoveryMode::Strict)).unwrap();
        // The side file holds the torn bytes, not the free space after them.
        assert_tail_cut(&s, &log, last.offset, &ctx);
        check_state(&s, &ids, &p.model.state(last.group, None), &ctx);
        s.close().unwrap();
    }
}

/// LevelDB issue #1287: after a torn tail is dropped, new records written
/// at its place must survive the next open.
#[test]
fn torn_last_record_then_new_writes_then_reopen() {
    for p in Pristine::both() {
        let ids = p.model.ids();
        let last = p.model.recs.last().unwrap();
        let cuts = [
            last.offset + 1,
            last.offset + RECORD_HEADER_LEN - 1,
            last.offset + RECORD_HEADER_LEN,
            last.offset + RECORD_HEADER_LEN + last.payload.len() as u64 / 2,
            last.end() - 1,
        ];
        for len in cuts {
            let ctx = format!("last record torn at {len}");
            let log = &p.log[..len as usize];
            let d = p.copy_with_log(log);
            let s = Store::open(d.path(), &opts(RecoveryMode::Strict)).unwrap();
            assert_tail_cut(&s, log, last.offset, &ctx);
            let mut want = p.model.state(last.group, None);
            check_state(&s, &ids, &want, &ctx);

            let new: [(u64, &[u8]); 3] = [
                (3000, b"first after the cut"),
                (7, b"id 7 again, whole this time"),
                (3001, b""),
            ];
            for (id, data) in new {
                s.store(id, data).unwrap();
                want.insert(id, Want::Bytes(data.to_vec()));
            }
            check_state(&s, &ids, &want, &format!("{ctx}, before close"));
            s.close().unwrap();

            for round in 1..=2 {
                let s = Store::open(d.path(), &opts(RecoveryMode::Absolute)).unwrap();
                let ctx = format!("{ctx}, reopen {round}");
                assert_eq!(s.open_report().torn_tail, None, "{ctx}");
                assert_eq!(
                    s.open_report().records_replayed,
                    p.model.replayed(last.group) + 3,
                    "{ctx}"
                );
                check_state(&s, &ids, &want, &ctx);
                s.close().unwrap();
            }
            assert_eq!(cut_files(d.path()).len(), 1, "{ctx}: one side file");
        }
    }
}
