//! Replay: read every record after the file header, verify both CRCs, and
//! hand the operations to the caller in log order.
//!
//! The one hard question is what damage means. Damage is a *torn tail* when
//! no valid record follows it: a crash stopped an append there, and nothing
//! after it was ever acknowledged. Damage with a valid, later record after it
//! is *corruption*: something acknowledged was damaged, and silently skipping
//! it could serve an older version of an id or bring a deleted one back.
//! "Later" means a higher sequence number than anything the damaged region
//! could hold. For damage inside a batch that region is the whole batch,
//! commit record included: a batch is one write, so a crash before its
//! fdatasync can leave any mix of its records damaged and intact, and only
//! a record written after the batch proves the batch was acknowledged.

use super::window::Window;
use super::RecoveryMode;
use crate::error::{Error, Result};
use crate::format::record::{decode_range_end, plausible_header};
use crate::format::{
    decode_header, payload_crc, FileHeader, RecordHeader, RecordHeaderError, RecordType,
    FILE_HEADER_LEN, PREALLOCATION_STEP, RECORD_HEADER_LEN,
};
use crate::vfs::VfsFile;
use std::path::Path;

/// One operation recovered from the log, in log order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOp {
    Put {
        id: u64,
        offset: u64,
        len: u32,
    },
    Delete {
        id: u64,
    },
    /// Every id in `lo..=hi` is deleted.
    DeleteRange {
        lo: u64,
        hi: u64,
    },
    /// The newest record of `id` at `offset` is damaged but its header is
    /// intact (`Salvage` only), or is a marker that a compaction wrote for
    /// an id a `Salvage` open had found damaged.
    Damaged {
        id: u64,
        offset: u64,
        len: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// End of the last whole record (or committed batch): new appends go here.
    pub valid_end: u64,
    pub last_seq: u64,
    /// The highest sequence number in any record with an intact header,
    /// the cut tail included: new records must number above it, or a crash
    /// that brought cut bytes back could pass them off as new.
    pub max_seq: u64,
    /// Store and delete records applied (batch framing not counted; damaged
    /// records passed as `ReplayOp::Damaged` are counted).
    pub records: u64,
    /// Damaged records passed over in `Salvage` mode.
    pub damaged: u64,
    /// Bytes from `valid_end` to `tail_end` form a torn tail.
    pub torn_tail: bool,
    /// The end of the torn tail: the file's end, or in a log with free
    /// space the further of its last non-zero byte and the end of its last
    /// record with an intact header (the zeros after that are free space).
    /// `valid_end` when there is no torn tail.
    pub tail_end: u64,
}

pub(super) enum Parsed {
    Good(RecordHeader),
    /// Too few bytes left for the header, or for the payload it announces.
    Incomplete,
    BadHeader {
        expected: u32,
        actual: u32,
    },
    Unsupported {
        ty: u8,
        flags: u8,
    },
    BadPayload {
        h: RecordHeader,
        expected: u32,
        actual: u32,
    },
    /// An intact record whose sequence number is not above the last one:
    /// bytes from an earlier use of this part of the file.
    Stale,
}

struct OpenBatch {
    begin: u64,
    begin_seq: u64,
    count: u64,
    ops: Vec<ReplayOp>,
}

impl OpenBatch {
    /// The highest sequence number an entry of this batch can carry.
    fn last_entry_seq(&self) -> u64 {
        self.begin_seq.saturating_add(self.count)
    }

    /// The sequence number of this batch's commit record: a valid record
    /// above it was written after the batch.
    fn commit_seq(&self) -> u64 {
        self.last_entry_seq().saturating_add(1)
    }
}

/// Operations held back after a `Salvage` damage verdict until replay has
/// got past the record that was its evidence. If a torn tail is cut before
/// that, the evidence was never part of the log: the damaged record joins
/// the tail and these operations are dropped with it. (Otherwise the next
/// open would find no evidence, cut the damaged record as a tail, and serve
/// the id's older version.)
struct HeldBack {
    /// The first damaged record whose evidence is not yet reached.
    damaged_at: u64,
    /// Replay must get past this offset for the verdicts to stand.
    evidence_at: u64,
    ops: Vec<ReplayOp>,
    records: u64,
    damaged: u64,
    /// The verdict on damage that cannot be salvaged (any damage, outside
    /// `Salvage`): returned once the evidence is passed.
    error: Option<Error>,
}

pub(super) struct Replayer<'a, F> {
    pub(super) w: Window<'a, F>,
    pub(super) path: &'a Path,
    pub(super) log_id: u64,
    /// Zeros from a record boundary to the end of the file are free space:
    /// the header has the PREALLOCATED flag and the file's length is a
    /// multiple of `PREALLOCATION_STEP`, as walstore's allocation leaves it.
    pub(super) preallocated: bool,
    /// In such a log, what the search for the end of the last non-zero
    /// byte found once damage asked for it: (where it began, the end). No
    /// record header starts at or after that end (a type is never 0), so
    /// the scans past damage stop there.
    data_end: Option<(u64, u64)>,
}

impl<'a, F: VfsFile> Replayer<'a, F> {
    pub(super) fn new(file: &'a F, path: &'a Path, file_len: u64, header: &FileHeader) -> Self {
        Replayer {
            w: Window::new(file, file_len),
            path,
            log_id: header.log_id,
            preallocated: header.preallocated && file_len % PREALLOCATION_STEP == 0,
            data_end: None,
        }
    }

    /// Whether `pos`, a record boundary, starts free space: the log is
    /// preallocated and nothing but zeros follows. A record's first byte
    /// is its type, never zero, so this costs one byte per record.
    pub(super) fn free_from(&mut self, pos: u64) -> Result<bool> {
        if !self.preallocated || pos == self.w.file_len {
            return Ok(false);
        }
        let path = self.path;
        self.w
            .zeros_from(pos)
            .map_err(|e| Error::io("read", path, Some(pos), e))
    }

    /// Where a scan for record headers from `from` can stop: the end of the
    /// file, or in a preallocated log the end of its last non-zero byte.
    fn scan_end(&mut self, from: u64) -> Result<u64> {
        if !self.preallocated {
            return Ok(self.w.file_len);
        }
        match self.data_end {
            // It found a non-zero byte: the file's last, whatever `from`.
            Some((began, end)) if end > began => return Ok(end.max(from)),
            // None at or after where it began, so none after `from` either.
            Some((began, _)) if from >= began => return Ok(from),
            _ => {}
        }
        let path = self.path;
        let end = self
            .w
            .data_end(from)
            .map_err(|e| Error::io("read", path, Some(from), e))?;
        self.data_end = Some((from, end));
        Ok(end)
    }

    /// A torn tail from `from`: the highest sequence number of an intact
    /// record header in it, and where it ends: the end of the file, or in a
    /// preallocated log the end of its last non-zero byte or of the last
    /// record in it whose header is intact, whichever is further (a torn
    /// record keeps the zeros its header says it holds). One scan gives
    /// both.
    pub(super) fn tail_extent(&mut self, from: u64) -> Result<(u64, u64)> {
        let (max_seq, records_end) = self.intact_headers(from)?;
        let end = if self.preallocated {
            self.scan_end(from)?.max(records_end)
        } else {
            self.w.file_len
        };
        Ok((max_seq, end))
    }
}

impl<F: VfsFile> Replayer<'_, F> {
    pub(super) fn parse_at(&mut self, off: u64) -> Result<Parsed> {
        let file_len = self.w.file_len;
        if file_len - off < RECORD_HEADER_LEN as u64 {
            return Ok(Parsed::Incomplete);
        }
        let log_id = self.log_id;
        let head = self.read(off, RECORD_HEADER_LEN)?;
        let h = match decode_header(head, log_id) {
            Ok(h) => h,
            Err(RecordHeaderError::BadCrc { expected, actual }) => {
                return Ok(Parsed::BadHeader { expected, actual })
            }
            Err(RecordHeaderError::Unsupported { ty, flags }) => {
                return Ok(Parsed::Unsupported { ty, flags })
            }
        };
        if off + h.total_len() > file_len {
            return Ok(Parsed::Incomplete);
        }
        let payload = self.read(off + RECORD_HEADER_LEN as u64, h.len as usize)?;
        let actual = payload_crc(log_id, payload);
        if actual != h.payload_crc {
            return Ok(Parsed::BadPayload {
                h,
                expected: h.payload_crc,
                actual,
            });
        }
        Ok(Parsed::Good(h))
    }

    fn read(&mut self, off: u64, len: usize) -> Result<&[u8]> {
        let path = self.path;
        self.w
            .bytes(off, len)
            .map_err(|e| Error::io("read", path, Some(off), e))
    }

    /// The first offset at or after `from` holding a whole, valid record
    /// with a sequence number above `min_seq` that will survive replay: a
    /// batch begin counts only if its batch commits (an uncommitted batch at
    /// the end is a torn tail, cut with whatever damage comes before it).
    pub(super) fn next_valid_record(&mut self, from: u64, min_seq: u64) -> Result<Option<u64>> {
        let file_len = self.w.file_len;
        let scan_end = self.scan_end(from)?;
        let mut q = from;
        while q < scan_end && q + RECORD_HEADER_LEN as u64 <= file_len {
            if plausible_header(self.read(q, RECORD_HEADER_LEN)?) {
                if let Parsed::Good(h) = self.parse_at(q)? {
                    if h.seq > min_seq {
                        if h.ty != RecordType::BatchBegin {
                            return Ok(Some(q));
                        }
                        match self.batch_commits(q, &h)? {
                            Ok(()) => return Ok(Some(q)),
                            // Its entries are no evidence either: go on
                            // after them.
                            Err(past) => {
                                q = past;
                                continue;
                            }
                        }
                    }
                }
            }
            q += 1;
        }
        Ok(None)
    }

    /// `Ok` if the batch begun at `at` has all its entries (valid, with
    /// consecutive sequence numbers) and its commit record; otherwise the
    /// offset of its first record that is not. A batch with a damaged entry
    /// is no evidence: replay would cut it as a torn tail when nothing
    /// follows it, and the verdict it supported would not survive the cut.
    fn batch_commits(&mut self, at: u64, begin: &RecordHeader) -> Result<Result<(), u64>> {
        let mut pos = at + begin.total_len();
        let last = begin.id.saturating_add(1);
        for k in 1..=last {
            let h = match self.parse_at(pos)? {
                Parsed::Good(h) => h,
                _ => return Ok(Err(pos.max(at + 1))),
            };
            if h.seq != begin.seq.saturating_add(k) {
                return Ok(Err(pos));
            }
            if k == last {
                let commits = h.ty == RecordType::BatchCommit && h.id == begin.id;
                return Ok(if commits { Ok(()) } else { Err(pos) });
            }
            pos += h.total_len();
        }
        Ok(Err(pos))
    }

    /// The highest sequence number of any intact record header at or after
    /// `from`, and the furthest end (within the file) of such a record.
    fn intact_headers(&mut self, from: u64) -> Result<(u64, u64)> {
        let (file_len, log_id) = (self.w.file_len, self.log_id);
        let scan_end = self.scan_end(from)?;
        let (mut max, mut end) = (0, from);
        let mut q = from;
        while q < scan_end && q + RECORD_HEADER_LEN as u64 <= file_len {
            let head = self.read(q, RECORD_HEADER_LEN)?;
            if plausible_header(head) {
                if let Ok(h) = decode_header(head, log_id) {
                    max = max.max(h.seq);
                    end = end.max((q + h.total_len()).min(file_len));
                }
            }
            q += 1;
        }
        Ok((max, end))
    }

    fn corruption(&self, offset: u64, detail: String) -> Error {
        Error::corruption(self.path, offset, detail)
    }
}

/// Where replay starts: after the file header, or at a snapshot's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStart {
    pub offset: u64,
    /// Every record from `offset` on has a higher sequence number.
    pub last_seq: u64,
}

impl ReplayStart {
    pub fn from_header(header: &FileHeader) -> ReplayStart {
        ReplayStart {
            offset: FILE_HEADER_LEN as u64,
            last_seq: header.base_seq,
        }
    }
}

/// Replays the log in `file` (of `file_len` bytes, whose header is already
/// verified) from `start` and passes each recovered operation to `apply`,
/// in log order. Operations of a batch are passed only once its commit
/// record is seen.
pub fn replay<F: VfsFile>(
    file: &F,
    path: &Path,
    file_len: u64,
    header: &FileHeader,
    start: ReplayStart,
    mode: RecoveryMode,
    mut apply: impl FnMut(ReplayOp),
) -> Result<Replayed> {
    let mut r = Replayer::new(file, path, file_len, header);
    let mut pos = start.offset;
    let mut last_seq = start.last_seq;
    let mut max_seen = last_seq;
    let mut records = 0u64;
    let mut damaged = 0u64;
    let mut batch: Option<OpenBatch> = None;
    let mut held: Option<HeldBack> = None;

    let tail_at = loop {
        // Released only outside a batch: a batch still open may yet be cut.
        if batch.is_none() && held.as_ref().is_some_and(|h| pos > h.evidence_at) {
            let h = held.take().expect("checked above");
            if let Some(e) = h.error {
                return Err(e);
            }
            h.ops.into_iter().for_each(&mut apply);
        }
        if pos == file_len || r.free_from(pos)? {
            match &batch {
                Some(b) => break b.begin,
                None => {
                    return Ok(Replayed {
                        valid_end: pos,
                        last_seq,
                        max_seq: max_seen,
                        records,
                        damaged,
                        torn_tail: false,
                        tail_end: pos,
                    })
                }
            }
        }
        // Damage inside an open batch is a tail unless a record written after
        // the whole batch follows it.
        let tail_start = batch.as_ref().map_or(pos, |b| b.begin);
        let parsed = match r.parse_at(pos)? {
            Parsed::Good(h) | Parsed::BadPayload { h, .. } if h.seq <= last_seq => Parsed::Stale,
            p => p,
        };
        if let Parsed::Good(h) | Parsed::BadPayload { h, .. } = &parsed {
            max_seen = max_seen.max(h.seq);
        }
        let (h, op_damaged) = match parsed {
            Parsed::Good(h) => (h, None),
            Parsed::Incomplete => break tail_start,
            Parsed::Unsupported { ty, flags } => {
                return Err(Error::Incompatible {
                    path: path.to_owned(),
                    detail: format!(
                        "record at offset {pos} has type {ty} and flags {flags:#x}, \
                         which only a newer walstore writes"
                    ),
                })
            }
            Parsed::BadHeader { .. } | Parsed::Stale => {
                let min_seq = batch.as_ref().map_or(last_seq, OpenBatch::commit_seq);
                match r.next_valid_record(pos + 1, min_seq)? {
                    None => break tail_start,
                    Some(q) => {
                        let what = match parsed {
                            Parsed::BadHeader { expected, actual } => format!(
                                "record header CRC mismatch: expected {expected:#010x}, \
                                 actual {actual:#010x}"
                            ),
                            _ => format!(
                                "an intact but stale record (its sequence number is not \
                                 above {last_seq})"
                            ),
                        };
                        // Damage held back before this one is reported first.
                        if let Some(e) = held.and_then(|h| h.error) {
                            return Err(e);
                        }
                        return Err(r.corruption(
                            pos,
                            format!(
                                "{what}; a valid record follows at offset {q}, so this is \
                                 damage, not a torn tail, and the id it held cannot be trusted"
                            ),
                        ));
                    }
                }
            }
            Parsed::BadPayload {
                h,
                expected,
                actual,
            } => {
                let min_seq = batch
                    .as_ref()
                    .map_or(last_seq.max(h.seq), OpenBatch::commit_seq);
                match r.next_valid_record(pos + h.total_len(), min_seq)? {
                    None => break tail_start,
                    Some(q) => {
                        // Replay goes on past the damage (its header, so its
                        // length, is intact) until it has passed the
                        // evidence at q: only then does the verdict stand.
                        let salvageable = mode == RecoveryMode::Salvage
                            && matches!(h.ty, RecordType::Put | RecordType::Delete);
                        let hb = held.get_or_insert(HeldBack {
                            damaged_at: tail_start,
                            evidence_at: q,
                            ops: Vec::new(),
                            records: 0,
                            damaged: 0,
                            error: None,
                        });
                        hb.evidence_at = hb.evidence_at.max(q);
                        if salvageable {
                            damaged += 1;
                            hb.damaged += 1;
                        } else if hb.error.is_none() {
                            hb.error = Some(r.corruption(
                                pos,
                                format!(
                                    "payload CRC mismatch in the {:?} record of id {}: \
                                     expected {expected:#010x}, actual {actual:#010x}; a valid \
                                     record follows at offset {q}, so this is damage, not a \
                                     torn tail",
                                    h.ty, h.id
                                ),
                            ));
                        }
                        (
                            h,
                            Some(ReplayOp::Damaged {
                                id: h.id,
                                offset: pos,
                                len: h.len,
                            }),
                        )
                    }
                }
            }
        };

        last_seq = h.seq;

        let op = match op_damaged {
            Some(op) => Some(op),
            None => match h.ty {
                RecordType::Put => Some(ReplayOp::Put {
                    id: h.id,
                    offset: pos,
                    len: h.len,
                }),
                RecordType::Delete => Some(ReplayOp::Delete { id: h.id }),
                RecordType::DeleteRange => {
                    let payload = r.read(pos + RECORD_HEADER_LEN as u64, h.len as usize)?;
                    match decode_range_end(payload) {
                        Some(hi) if hi >= h.id => Some(ReplayOp::DeleteRange { lo: h.id, hi }),
                        _ => {
                            return Err(r.corruption(
                                pos,
                                format!(
                                    "range delete from id {} with a payload of {} bytes that is \
                                 not a range end at or above it",
                                    h.id, h.len
                                ),
                            ))
                        }
                    }
                }
                RecordType::DamagedMarker => Some(ReplayOp::Damaged {
                    id: h.id,
                    offset: pos,
                    len: h.len,
                }),
                RecordType::BatchBegin | RecordType::BatchCommit => None,
            },
        };
        match (h.ty, op, batch.as_mut()) {
            (_, Some(op), None) => {
                records += 1;
                match held.as_mut() {
                    Some(hb) => {
                        hb.records += 1;
                        hb.ops.push(op);
                    }
                    None => apply(op),
                }
            }
            (_, Some(op), Some(b)) => {
                let k = b.ops.len() as u64 + 1;
                if k > b.count || h.seq != b.begin_seq + k {
                    return Err(r.corruption(
                        pos,
                        format!(
                            "record {k} of the batch begun at offset {} does not belong to it \
                             (batch of {}, sequence {})",
                            b.begin, b.count, h.seq
                        ),
                    ));
                }
                b.ops.push(op);
            }
            (RecordType::BatchBegin, None, None) => {
                batch = Some(OpenBatch {
                    begin: pos,
                    begin_seq: h.seq,
                    count: h.id,
                    ops: Vec::new(),
                });
            }
            (RecordType::BatchCommit, None, Some(b))
                if h.id == b.count && b.ops.len() as u64 == b.count && h.seq == b.commit_seq() =>
            {
                records += b.count;
                match held.as_mut() {
                    Some(hb) => {
                        hb.records += b.count;
                        hb.ops.append(&mut b.ops);
                    }
                    None => b.ops.drain(..).for_each(&mut apply),
                }
                batch = None;
            }
            (ty, _, b) => {
                return Err(r.corruption(
                    pos,
                    format!(
                        "{ty:?} record out of place{}",
                        b.map(|b| format!(" in the batch begun at offset {}", b.begin))
                            .unwrap_or_default()
                    ),
                ))
            }
        }
        pos += h.total_len();
    };

    // Verdicts whose evidence lies in the tail fall with it.
    let tail_at = match held {
        Some(hb) => {
            records -= hb.records;
            damaged -= hb.damaged;
            hb.damaged_at.min(tail_at)
        }
        None => tail_at,
    };
    let (tail_max_seq, tail_end) = r.tail_extent(tail_at)?;
    if mode == RecoveryMode::Absolute {
        return Err(r.corruption(
            tail_at,
            format!(
                "torn tail of {} bytes (from offset {tail_at} to {}); \
                 ABSOLUTE recovery refuses to cut it",
                tail_end - tail_at,
                if tail_end == file_len {
                    "the end of the file".to_string()
                } else {
                    format!("{tail_end}, where the log's free space begins")
                }
            ),
        ));
    }
    let max_seq = max_seen.max(tail_max_seq);
    Ok(Replayed {
        valid_end: tail_at,
        last_seq,
        max_seq,
        records,
        damaged,
        torn_tail: true,
        tail_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{OpenMode, StdVfs, Vfs};

    /// The end of the last non-zero byte, asked for from several places in
    /// any order, is what a fresh search from each would find: a search
    /// that found nothing after a later place says nothing of an earlier
    /// one.
    #[test]
    fn scan_end_is_the_same_from_any_place_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut bytes = vec![0u8; PREALLOCATION_STEP as usize];
        bytes[100] = 7;
        bytes[5000] = 9;
        std::fs::write(&path, &bytes).unwrap();
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        let header = FileHeader {
            log_id: 1,
            generation: 1,
            base_seq: 0,
            folded_seq: 0,
            preallocated: true,
        };
        let fresh = |from: u64| {
            let mut r = Replayer::new(&file, &path, PREALLOCATION_STEP, &header);
            r.scan_end(from).unwrap()
        };
        assert_eq!(fresh(0), 5001);
        assert_eq!(fresh(6000), 6000);
        let places = [6000, 0, 200, 5001, 7000, 5000, 100, 9000];
        for first in places {
            let mut r = Replayer::new(&file, &path, PREALLOCATION_STEP, &header);
            r.scan_end(first).unwrap();
            for from in places {
                assert_eq!(
                    r.scan_end(from).unwrap(),
                    fresh(from),
                    "{first}, then {from}"
                );
            }
        }
        // The bytes past 5000 cleared: a search from 6000 finds nothing,
        // which must not answer one from 200.
        bytes[5000] = 0;
        std::fs::write(&path, &bytes).unwrap();
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        let mut r = Replayer::new(&file, &path, PREALLOCATION_STEP, &header);
        assert_eq!(r.scan_end(6000).unwrap(), 6000);
        assert_eq!(r.scan_end(200).unwrap(), 200);
        assert_eq!(r.scan_end(50).unwrap(), 101);
    }
}
