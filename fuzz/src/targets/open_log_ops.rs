//! `open_log_ops`: a real log written through the API from the input's
//! operations, then damaged by the input's edits (truncation, zeroed
//! ranges, bit flips, zero extension, junk, copies of records, records
//! re-sealed with valid CRCs), then opened in every mode (`logcheck`).
//!
//! On top of the generic checks, while the file header is intact and no
//! edit produced a CRC-valid record header the writer did not write (a
//! copy or a re-seal), the outcome is exactly predictable from which bytes
//! the edits left intact:
//!
//! - let `m` be the number of leading writes whose records are all intact,
//!   and `r0` the first damaged record of write `m`;
//! - `Strict` fails with `Corruption` exactly when replay's search finds
//!   evidence: an intact record after `r0` (outside a batch, or when `r0`
//!   is the batch's begin record) or after the whole batch (when `r0` is a
//!   batch entry or commit); a batch begin is evidence only when its whole
//!   batch follows with intact headers (one that does not is skipped up to
//!   its first broken record). Otherwise it opens with the model after `m`
//!   writes, with a torn tail from the end of write `m` when the file goes
//!   on after it;
//! - `Absolute` opens exactly when `Strict` opens without a tail;
//! - `Salvage` opens alike when `Strict` opens; when it opens where
//!   `Strict` fails, every id it does not mark damaged reads as in the
//!   model after some number of writes at least `m`.

use crate::history::{build, decode_ops, History};
use crate::logcheck::{examine, scan, Examined, Opened};
use crate::observe::{Observed, Read};
use crate::util::{Reader, TmpDir};
use std::collections::BTreeSet;
use walstore::format::{RecordType, FILE_HEADER_LEN, RECORD_HEADER_LEN};
use walstore::{Durability, ErrorKind};

pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let durability = match r.u8() % 3 {
        0 => Durability::Fsync,
        1 => Durability::Flush,
        _ => Durability::None,
    };
    let ops = decode_ops(&mut r, 24, false);
    let tmp = TmpDir::new();
    let h = build(&tmp.sub("build"), &ops, durability);
    drop(tmp);
    let mut log = h.log.clone();
    apply_edits(&mut r, &mut log, &h);
    let ex = examine(&log);
    let want = expect(&log, &h);
    if std::env::var_os("WALSTORE_FUZZ_TRACE").is_some() {
        eprintln!(
            "{} writes, log {} -> {} bytes, expected {want:?}",
            h.writes(),
            h.log.len(),
            log.len()
        );
    }
    if let Some(want) = want {
        check_expected(&ex, &want, &h);
    }
}

/// The edits, applied in turn to `log`.
fn apply_edits(r: &mut Reader, log: &mut Vec<u8>, h: &History) {
    let n = r.u8() % 9;
    for _ in 0..n {
        let len = log.len();
        let at = |v: u16| if len == 0 { 0 } else { usize::from(v) % len };
        match r.u8() % 10 {
            0 => {
                let l = usize::from(r.u16()) % (len + 1);
                log.truncate(l);
            }
            1 => {
                // Truncate near a write boundary: what a crash leaves.
                let b = h.bounds[usize::from(r.u8()) % h.bounds.len()] as usize;
                let l = (b + usize::from(r.u8() % 48)).min(len);
                log.truncate(l);
            }
            2 => {
                let (o, k) = (at(r.u16()), usize::from(r.u8()) + 1);
                let end = (o + k).min(len);
                log[o..end].fill(0);
            }
            3 => {
                let (o, mask) = (at(r.u16()), r.u8().max(1));
                if len > 0 {
                    log[o] ^= mask;
                }
            }
            4 => {
                let (o, v) = (at(r.u16()), r.u8());
                if len > 0 {
                    log[o] = v;
                }
            }
            5 => {
                // The file grew but its data never arrived.
                let k = usize::from(r.u16() % 2048);
                log.resize(len + k, 0);
            }
            6 => {
                let k = usize::from(r.u8());
                log.extend_from_slice(r.bytes(k));
            }
            7 => {
                // A copy of some bytes elsewhere: stale or duplicated records.
                let (src, dst, k) = (at(r.u16()), at(r.u16()), usize::from(r.u16() % 512));
                let k = k.min(len - src.min(len)).min(len - dst.min(len));
                let chunk = log[src..src + k].to_vec();
                log[dst..dst + k].copy_from_slice(&chunk);
            }
            8 => {
                // Re-seal one of the writer's records after the edits.
                if !h.recs.is_empty() {
                    let rec = h.recs[usize::from(r.u8()) % h.recs.len()];
                    reseal(log, rec.offset as usize, h.log_id);
                }
            }
            _ => {
                let o = at(r.u16());
                reseal(log, o, h.log_id);
            }
        }
    }
}

fn crc_id(log_id: u64, bytes: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&log_id.to_le_bytes());
    c.update(bytes);
    c.finalize()
}

/// Makes the 32 bytes at `off` a header with valid CRCs for whatever its
/// fields now say (the payload CRC too, when the payload is in the file).
fn reseal(log: &mut [u8], off: usize, log_id: u64) {
    if off + RECORD_HEADER_LEN > log.len() {
        return;
    }
    let plen = u32::from_le_bytes(log[off + 4..off + 8].try_into().unwrap()) as usize;
    let start = off + RECORD_HEADER_LEN;
    if let Some(payload) = log.get(start..start.saturating_add(plen)) {
        let c = crc_id(log_id, payload);
        log[off + 24..off + 28].copy_from_slice(&c.to_le_bytes());
    }
    let c = crc_id(log_id, &log[off..off + 28]);
    log[off + 28..off + 32].copy_from_slice(&c.to_le_bytes());
}

/// What `Strict` must do with `log`.
#[derive(Debug)]
pub struct Expected {
    /// Writes that must be there (`Strict` opens), or `None`: `Strict`
    /// fails with `Corruption`.
    pub writes: Option<usize>,
    /// Leading intact writes.
    pub intact: usize,
    pub torn: Option<u64>,
    pub records: u64,
}

/// The exact `Strict` outcome, when the edits left the file header alone
/// and forged no record header; `None` when only the generic checks apply.
pub fn expect(log: &[u8], h: &History) -> Option<Expected> {
    if log.len() < FILE_HEADER_LEN || log[..FILE_HEADER_LEN] != h.log[..FILE_HEADER_LEN] {
        return None;
    }
    let ours: BTreeSet<u64> = h.recs.iter().map(|r| r.offset).collect();
    for off in scan(log).headers {
        let o = off as usize;
        if !ours.contains(&off) || log[o..o + RECORD_HEADER_LEN] != h.log[o..o + RECORD_HEADER_LEN]
        {
            return None;
        }
    }
    let intact = |i: usize| {
        let r = h.recs[i];
        let (a, b) = (r.offset as usize, (r.offset + r.total) as usize);
        b <= log.len() && log[a..b] == h.log[a..b]
    };
    let r0 = (0..h.recs.len()).find(|&i| !intact(i));
    let m = r0.map_or(h.writes(), |i| h.recs[i].write);
    let records = h.recs[..r0.unwrap_or(h.recs.len())]
        .iter()
        .filter(|r| r.write < m && matches!(r.ty, RecordType::Put | RecordType::Delete))
        .count() as u64;
    let start = h.bounds[m];
    let torn = (log.len() as u64 > start).then_some(start);
    let Some(i0) = r0 else {
        return Some(Expected {
            writes: Some(m),
            intact: m,
            torn,
            records,
        });
    };
    let in_batch_body = h.batch[m] && h.recs[i0].ty != RecordType::BatchBegin;
    // Damage is corruption when replay's search finds evidence after it.
    // Without a search: too few bytes left for the record, or an intact
    // header whose record runs past the end of the file.
    let r = h.recs[i0];
    let header_ok = |i: usize| {
        let a = h.recs[i].offset as usize;
        a + RECORD_HEADER_LEN <= log.len()
            && log[a..a + RECORD_HEADER_LEN] == h.log[a..a + RECORD_HEADER_LEN]
    };
    let complete = |i: usize| (h.recs[i].offset + h.recs[i].total) as usize <= log.len();
    let searched =
        r.offset as usize + RECORD_HEADER_LEN <= log.len() && (complete(i0) || !header_ok(i0));
    let later = searched && {
        // Records after the damaged one (or after its batch, whose own
        // records number at most its commit) are evidence when whole and
        // valid; a batch begin only when its whole batch follows intact up
        // to its commit, and a batch that does not is skipped up to its
        // first broken record.
        let first_batch_rec = |w: usize| h.recs.iter().position(|x| x.write == w).unwrap();
        let end_of_write =
            |w: usize| first_batch_rec(w) + h.recs.iter().filter(|x| x.write == w).count();
        let mut i = i0 + 1;
        let mut found = false;
        while i < h.recs.len() {
            let x = h.recs[i];
            if !intact(i) || (in_batch_body && x.write == m) {
                i += 1;
                continue;
            }
            if x.ty != RecordType::BatchBegin {
                // A record of a later batch whose begin is intact but some
                // other record is not is no evidence: replay opens that
                // batch, cuts it from its begin when nothing valid follows
                // it, and a verdict whose evidence was cut falls (FORMAT.md
                // §5.3). What follows the batch may be. (With its begin
                // damaged, no batch opens and its intact entries count.)
                let w = x.write;
                let first = first_batch_rec(w);
                if w != m && h.batch[w] && intact(first) && !(first..end_of_write(w)).all(intact) {
                    i = end_of_write(w);
                    continue;
                }
                found = true;
                break;
            }
            let end = end_of_write(x.write);
            // Replay's check of a batch reads every entry whole, CRCs
            // included.
            match (i + 1..end).find(|&j| !intact(j)) {
                None => {
                    found = true;
                    break;
                }
                Some(j) => i = j,
            }
        }
        found
    };
    Some(Expected {
        writes: (!later).then_some(m),
        intact: m,
        torn,
        records,
    })
}

fn matches_model(obs: &Observed, h: &History, k: usize, except: &BTreeSet<u64>) -> bool {
    let model = &h.models[k];
    let ids: BTreeSet<u64> = obs.ids.keys().chain(model.keys()).copied().collect();
    ids.iter()
        .filter(|id| !except.contains(id))
        .all(|id| match (obs.ids.get(id), model.get(id)) {
            (Some(Read::Data(a)), Some(b)) => a == b,
            (None, None) => true,
            _ => false,
        })
}

fn check_expected(ex: &Examined, want: &Expected, h: &History) {
    for (what, set) in [("read-only", &ex.ro), ("writable", &ex.rw)] {
        let [strict, salvage, absolute]: &[Opened; 3] = set.as_slice().try_into().unwrap();
        match (want.writes, strict) {
            (None, Err(k)) => assert_eq!(*k, ErrorKind::Corruption, "{what} Strict"),
            (None, Ok(o)) => panic!(
                "{what} Strict opened (torn tail {:?}) although a valid record follows damage \
                 in write {}: expected Corruption",
                o.report.torn_tail, want.intact
            ),
            (Some(k), Err(e)) => panic!(
                "{what} Strict failed with {e:?}; expected it to open with the first {k} of {} \
                 writes, torn tail at {:?}",
                h.writes(),
                want.torn
            ),
            (Some(k), Ok(o)) => {
                assert_eq!(
                    o.obs,
                    Observed::from_model(&h.models[k]),
                    "{what} Strict: not the state after the first {k} of {} writes",
                    h.writes()
                );
                let torn = o.report.torn_tail.as_ref().map(|t| t.offset);
                assert_eq!(torn, want.torn, "{what} Strict: torn tail");
                assert_eq!(
                    o.report.records_replayed, want.records,
                    "{what} records replayed"
                );
            }
        }
        let absolute_opens = want.writes.is_some() && want.torn.is_none();
        assert_eq!(
            absolute.is_ok(),
            absolute_opens,
            "{what} Absolute: {:?}",
            absolute.as_ref().err()
        );
        if let Ok(v) = salvage {
            let damaged: BTreeSet<u64> = v.obs.damaged.iter().copied().collect();
            assert!(
                (want.intact..=h.writes()).any(|k| matches_model(&v.obs, h, k, &damaged)),
                "{what} Salvage: the undamaged ids match no model from write {} on",
                want.intact
            );
        }
    }
}
