//! Building a real log through the `Store` API from fuzz input, with a model
//! of the store after every call: the raw material of the structured
//! targets.

use crate::util::{read, Reader, LOG_NAME};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use walstore::format::names::snapshot_file_name;
use walstore::format::{decode_header, FileHeader, RecordType, FILE_HEADER_LEN};
use walstore::{Durability, ErrorKind, Options, Store};

pub type Model = BTreeMap<u64, Vec<u8>>;

/// A writing call (or a snapshot) decoded from the input.
#[derive(Debug, Clone)]
pub enum Op {
    Put(u64, Vec<u8>),
    Delete(u64),
    Batch(Vec<(u64, Vec<u8>)>),
    Snapshot,
}

/// Ids come from a small space (so that ids are overwritten and deleted
/// often), with a few extreme values.
pub fn id_from(b: u8) -> u64 {
    if b < 240 {
        u64::from(b % 12)
    } else {
        u64::MAX - u64::from(b - 240)
    }
}

/// A payload of length `len` made from `seed`. Every byte has its top bit
/// set, so no byte sequence inside a payload looks like a record header (a
/// header starts with a type byte of 1 to 4): damage next to a payload can
/// never reveal a record the writer did not write.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| 0x80 | (seed.wrapping_add((i as u8).wrapping_mul(29)) & 0x7f))
        .collect()
}

fn payload_from(r: &mut Reader) -> Vec<u8> {
    let len = match r.u8() {
        250..=255 => 256 + usize::from(r.u16() % 3000),
        n => usize::from(n % 64),
    };
    payload(len, r.u8())
}

/// Decodes up to `max` operations. Snapshots only when `snapshots`.
pub fn decode_ops(r: &mut Reader, max: usize, snapshots: bool) -> Vec<Op> {
    let mut ops = Vec::new();
    let n = 1 + usize::from(r.u8()) % max;
    for _ in 0..n {
        let op = match r.u8() % 8 {
            0..=3 => Op::Put(id_from(r.u8()), payload_from(r)),
            4 | 5 => Op::Delete(id_from(r.u8())),
            6 => {
                let k = 1 + usize::from(r.u8() % 5);
                Op::Batch((0..k).map(|_| (id_from(r.u8()), payload_from(r))).collect())
            }
            _ if snapshots => Op::Snapshot,
            _ => Op::Put(id_from(r.u8()), payload_from(r)),
        };
        ops.push(op);
    }
    ops
}

/// One record of the log as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub offset: u64,
    pub total: u64,
    pub ty: RecordType,
    pub seq: u64,
    /// Index of the write (in `History::writes`) it belongs to.
    pub write: usize,
}

/// The log a sequence of calls produced, and the model after each write.
#[derive(Debug, Clone)]
pub struct History {
    pub log: Vec<u8>,
    pub log_id: u64,
    /// `bounds[k]` is the log end after the first `k` writes (`bounds[0]` is
    /// the end of the file header). Calls that wrote nothing are not writes.
    pub bounds: Vec<u64>,
    /// `models[k]` is the store's content after the first `k` writes.
    pub models: Vec<Model>,
    /// Whether write `k` is a framed batch.
    pub batch: Vec<bool>,
    pub recs: Vec<Rec>,
    /// Every id any call named.
    pub ids: BTreeSet<u64>,
    /// Every payload ever stored, by id.
    pub versions: BTreeMap<u64, BTreeSet<Vec<u8>>>,
    /// The newest snapshot: (position, file name, bytes, model at it).
    pub snapshot: Option<(u64, String, Vec<u8>, Model)>,
}

impl History {
    pub fn writes(&self) -> usize {
        self.bounds.len() - 1
    }
}

/// Runs `ops` against a new store in `dir` and records what each did,
/// checking every result against the model as it goes.
pub fn build(dir: &Path, ops: &[Op], durability: Durability) -> History {
    let mut o = Options::new();
    o.set_durability(durability);
    let store = Store::open(dir, &o).expect("open a new store");
    let mut h = History {
        log: Vec::new(),
        log_id: 0,
        bounds: vec![store.log_position()],
        models: vec![Model::new()],
        batch: Vec::new(),
        recs: Vec::new(),
        ids: BTreeSet::new(),
        versions: BTreeMap::new(),
        snapshot: None,
    };
    assert_eq!(h.bounds[0], FILE_HEADER_LEN as u64);
    let mut model = Model::new();
    for op in ops {
        let before = store.log_position();
        let batch = matches!(op, Op::Batch(e) if e.len() > 1);
        match op {
            Op::Put(id, data) => {
                store.store(*id, data).expect("store");
                h.ids.insert(*id);
                h.versions.entry(*id).or_default().insert(data.clone());
                model.insert(*id, data.clone());
            }
            Op::Delete(id) => {
                h.ids.insert(*id);
                let r = store.delete(*id);
                if model.remove(id).is_some() {
                    r.expect("delete of a present id");
                } else {
                    assert_eq!(r.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
                    assert_eq!(store.log_position(), before, "a failed delete wrote");
                    continue;
                }
            }
            Op::Batch(entries) => {
                let refs: Vec<(u64, &[u8])> =
                    entries.iter().map(|(id, d)| (*id, d.as_slice())).collect();
                store.store_batch(&refs).expect("store_batch");
                for (id, d) in entries {
                    h.ids.insert(*id);
                    h.versions.entry(*id).or_default().insert(d.clone());
                    model.insert(*id, d.clone());
                }
            }
            Op::Snapshot => {
                let pos = store.snapshot().expect("snapshot");
                assert_eq!(pos, before, "a snapshot covers the whole log");
                let name = snapshot_file_name(1, pos);
                let bytes = read(&dir.join(&name));
                h.snapshot = Some((pos, name, bytes, model.clone()));
                continue;
            }
        }
        let after = store.log_position();
        assert!(after > before, "a write did not move the log position");
        h.bounds.push(after);
        h.models.push(model.clone());
        h.batch.push(batch);
    }
    store.close().expect("close");
    h.log = read(&dir.join(LOG_NAME));
    assert_eq!(h.log.len() as u64, *h.bounds.last().unwrap());
    let header = FileHeader::decode(&h.log[..FILE_HEADER_LEN]).expect("a valid header");
    h.log_id = header.log_id;
    // The records, with the write each belongs to.
    let mut pos = FILE_HEADER_LEN;
    let mut w = 0;
    while pos < h.log.len() {
        let rh = decode_header(&h.log[pos..pos + 32], h.log_id).expect("a valid record");
        while h.bounds[w + 1] <= pos as u64 {
            w += 1;
        }
        h.recs.push(Rec {
            offset: pos as u64,
            total: rh.total_len(),
            ty: rh.ty,
            seq: rh.seq,
            write: w,
        });
        pos += rh.total_len() as usize;
    }
    assert_eq!(pos, h.log.len());
    h
}
