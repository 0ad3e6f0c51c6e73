//! Verification: read every record and check every CRC, like replay, but
//! never stop at damage: report each damaged region (offset, length, what
//! is wrong, the id when its header is intact) and carry on at the next
//! valid record. This is what an operator runs when something looks wrong;
//! it changes nothing.

use super::replay::{Parsed, Replayer};
use crate::error::Result;
use crate::format::{FileHeader, RecordType, FILE_HEADER_LEN};
use crate::vfs::VfsFile;
use std::path::Path;

/// One damaged region of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    /// Bytes up to the next valid record (or the end of the file, or of the
    /// last non-zero byte in a preallocated log).
    pub length: u64,
    /// The id of the damaged record, when its header is intact.
    pub id: Option<u64>,
    pub what: String,
    /// No valid record follows: a torn tail, which a writable open cuts.
    pub at_tail: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogVerification {
    pub file_len: u64,
    /// Intact records by type.
    pub stores: u64,
    pub deletes: u64,
    pub range_deletes: u64,
    pub batches: u64,
    /// Markers a compaction wrote for ids found damaged before it.
    pub damaged_markers: u64,
    pub damage: Vec<Damage>,
    /// Zeros at the end of a preallocated log, after its last record: space
    /// for appends, not damage.
    pub free_bytes: u64,
}

/// Walks the whole log after its (verified) header. `progress` is called
/// with the offset reached, every few megabytes and at the end.
pub fn verify_log<F: VfsFile>(
    file: &F,
    path: &Path,
    file_len: u64,
    header: &FileHeader,
    progress: &mut dyn FnMut(u64),
) -> Result<LogVerification> {
    let mut r = Replayer::new(file, path, file_len, header);
    let mut v = LogVerification {
        file_len,
        ..Default::default()
    };
    let mut pos = FILE_HEADER_LEN as u64;
    let mut last_seq = header.base_seq;
    let mut reported = pos;
    // The begin record of a batch whose commit has not been read yet.
    let mut open_batch = None;
    while pos < file_len {
        if pos - reported >= 4 << 20 {
            progress(pos);
            reported = pos;
        }
        if r.free_from(pos)? {
            v.free_bytes = file_len - pos;
            break;
        }
        let (what, id, skip_to) = match r.parse_at(pos)? {
            Parsed::Good(h) if h.seq > last_seq => {
                last_seq = h.seq;
                match h.ty {
                    RecordType::Put => v.stores += 1,
                    RecordType::Delete => v.deletes += 1,
                    RecordType::DeleteRange => v.range_deletes += 1,
                    RecordType::BatchBegin => {
                        v.batches += 1;
                        open_batch = Some(pos);
                    }
                    RecordType::DamagedMarker => v.damaged_markers += 1,
                    RecordType::BatchCommit => open_batch = None,
                }
                pos += h.total_len();
                continue;
            }
            Parsed::Good(h) | Parsed::BadPayload { h, .. } if h.seq <= last_seq => (
                format!(
                    "stale record of id {} (sequence {} not above {last_seq})",
                    h.id, h.seq
                ),
                None,
                None,
            ),
            Parsed::Good(_) | Parsed::Stale => unreachable!("classified above"),
            Parsed::BadPayload {
                h,
                expected,
                actual,
            } => {
                last_seq = h.seq;
                (
                    format!(
                        "payload CRC mismatch in the {:?} record of id {}: expected \
                         {expected:#010x}, actual {actual:#010x}",
                        h.ty, h.id
                    ),
                    Some(h.id),
                    Some(pos + h.total_len()),
                )
            }
            Parsed::BadHeader { expected, actual } => (
                format!(
                    "record header CRC mismatch: expected {expected:#010x}, actual {actual:#010x}"
                ),
                None,
                None,
            ),
            Parsed::Unsupported { ty, flags } => (
                format!("record type {ty} (flags {flags:#x}) that only a newer walstore writes"),
                None,
                None,
            ),
            Parsed::Incomplete => ("incomplete record at the end of the log".into(), None, None),
        };
        let next = match skip_to {
            Some(n) => r.next_valid_record(n, 0)?,
            None => r.next_valid_record(pos + 1, 0)?,
        };
        let end = match next {
            Some(q) => q,
            // The zeros after it, if any, are free space (found next round).
            None => r.tail_extent(pos)?.1,
        };
        // The damage reported covers what is wrong with a batch it ends.
        open_batch = None;
        v.damage.push(Damage {
            offset: pos,
            length: end - pos,
            id,
            what,
            at_tail: next.is_none(),
        });
        pos = end;
    }
    // A batch that the end of the records interrupts is a torn tail, which
    // an open cuts from its begin record, though each of its records is
    // intact.
    if let Some(begin) = open_batch {
        v.damage.push(Damage {
            offset: begin,
            length: pos - begin,
            id: None,
            what: format!("the batch begun at offset {begin} has no commit record"),
            at_tail: true,
        });
    }
    progress(file_len);
    Ok(v)
}
