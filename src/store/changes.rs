//! Reading the log in the order it was written, from a sequence number:
//! for an embedding database that replays what it wrote, or ships it to a
//! replica. Every record is CRC-checked as it is read.

use super::logs::LogFile;
use super::Store;
use crate::error::{Error, Result};
use crate::format::record::decode_range_end;
use crate::format::{decode_header, payload_crc, RecordType};
use crate::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use crate::vfs::{StdVfs, Vfs, VfsFile};
use std::sync::Arc;

/// One record of the log, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Store {
        seq: u64,
        id: u64,
        payload: Vec<u8>,
    },
    Delete {
        seq: u64,
        id: u64,
    },
    /// Every id from `lo` to `hi`, both included, deleted.
    DeleteRange {
        seq: u64,
        lo: u64,
        hi: u64,
    },
    /// The `count` records that follow, up to the matching `BatchCommit`,
    /// form one batch.
    BatchBegin {
        seq: u64,
        count: u64,
    },
    BatchCommit {
        seq: u64,
        count: u64,
    },
}

impl Change {
    pub fn seq(&self) -> u64 {
        match self {
            Change::Store { seq, .. }
            | Change::Delete { seq, .. }
            | Change::DeleteRange { seq, .. }
            | Change::BatchBegin { seq, .. }
            | Change::BatchCommit { seq, .. } => *seq,
        }
    }
}

/// A position in the log and the end of what was acknowledged when the
/// cursor was opened. It keeps its log file open: a compaction meanwhile
/// does not disturb it.
pub struct ChangeCursor<V: Vfs = StdVfs> {
    log: Arc<LogFile<V::File>>,
    pos: u64,
    end: u64,
}

impl<V: Vfs> std::fmt::Debug for ChangeCursor<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeCursor")
            .field("generation", &self.log.generation)
            .field("pos", &self.pos)
            .field("end", &self.end)
            .finish()
    }
}

impl<V: Vfs> Store<V> {
    /// A cursor over the records acknowledged so far, from the first one
    /// whose sequence number is at least `from_seq` (1 for everything).
    /// Finding the start reads the record headers before it. A sequence
    /// number that a compaction folded away gives `Compacted`: what was
    /// written up to it is no longer in the log, only its result (read
    /// that with a [`super::Cursor`], then follow changes from the
    /// cursor's `seq() + 1`).
    pub fn changes_from(&self, from_seq: u64) -> Result<ChangeCursor<V>> {
        let (log, end) = {
            let mut ap = self.appender.lock();
            let log = self.current();
            // Buffered (Durability::None) records are acknowledged: they
            // reach the OS so the cursor can read them like the rest.
            self.flush_buffer(&mut ap, &log)?;
            let fsync = self.opts.durability() == super::Durability::Fsync;
            let own = ap.end;
            let end = self
                .commit
                .quiesced(|(published, _)| if fsync { published } else { own });
            (log, end)
        };
        if log.folded_seq > 0 && from_seq <= log.folded_seq {
            return Err(Error::Compacted {
                from_seq,
                first: log.folded_seq + 1,
                path: log.path.clone(),
            });
        }
        let mut pos = FILE_HEADER_LEN as u64;
        let mut head = [0u8; RECORD_HEADER_LEN];
        while pos < end {
            let h = change_header(&log, pos, &mut head)?;
            if h.seq >= from_seq {
                break;
            }
            pos += h.total_len();
        }
        Ok(ChangeCursor { log, pos, end })
    }

    /// The next record of `cursor`, with a store's payload in `buf`; `None`
    /// at the end. A damaged record is an error, and ends the cursor: past
    /// it, lengths cannot be trusted.
    pub fn next_change(&self, cursor: &mut ChangeCursor<V>) -> Option<Result<Change>> {
        if cursor.pos >= cursor.end {
            return None;
        }
        let r = change_at(&cursor.log, cursor.pos);
        match &r {
            Ok((_, next)) => cursor.pos = *next,
            Err(_) => cursor.pos = cursor.end,
        }
        Some(r.map(|(c, _)| c))
    }

    /// An iterator over `changes_from(from_seq)`.
    pub fn changes(&self, from_seq: u64) -> Result<Changes<'_, V>> {
        Ok(Changes {
            store: self,
            cursor: self.changes_from(from_seq)?,
        })
    }
}

fn change_header<F: VfsFile>(
    log: &LogFile<F>,
    pos: u64,
    head: &mut [u8; RECORD_HEADER_LEN],
) -> Result<crate::format::RecordHeader> {
    log.file
        .read_exact_at(head, pos)
        .map_err(|e| Error::io("read", &log.path, Some(pos), e))?;
    decode_header(head, log.log_id).map_err(|e| Error::corruption(&log.path, pos, e.to_string()))
}

fn change_at<F: VfsFile>(log: &LogFile<F>, pos: u64) -> Result<(Change, u64)> {
    let mut head = [0u8; RECORD_HEADER_LEN];
    let h = change_header(log, pos, &mut head)?;
    let mut payload = vec![0u8; h.len as usize];
    log.file
        .read_exact_at(&mut payload, pos + RECORD_HEADER_LEN as u64)
        .map_err(|e| Error::io("read", &log.path, Some(pos), e))?;
    let actual = payload_crc(log.log_id, &payload);
    if actual != h.payload_crc {
        return Err(Error::corruption(
            &log.path,
            pos,
            format!(
                "payload CRC mismatch in the {:?} record of id {}: expected {:#010x}, actual \
                     {actual:#010x}",
                h.ty, h.id, h.payload_crc
            ),
        ));
    }
    let (seq, id) = (h.seq, h.id);
    let c = match h.ty {
        RecordType::Put => Change::Store { seq, id, payload },
        RecordType::Delete => Change::Delete { seq, id },
        RecordType::BatchBegin => Change::BatchBegin { seq, count: id },
        RecordType::BatchCommit => Change::BatchCommit { seq, count: id },
        RecordType::DeleteRange => match decode_range_end(&payload) {
            Some(hi) if hi >= id => Change::DeleteRange { seq, lo: id, hi },
            _ => {
                return Err(Error::corruption(
                    &log.path,
                    pos,
                    format!("range delete from id {id} without a valid range end"),
                ))
            }
        },
        // Only a compaction writes these, before the sequence numbers a
        // cursor may start from.
        RecordType::DamagedMarker => {
            return Err(Error::corruption(
                &log.path,
                pos,
                format!(
                    "id {id} was found damaged before a compaction: {}",
                    String::from_utf8_lossy(&payload)
                ),
            ))
        }
    };
    Ok((c, pos + h.total_len()))
}

/// `Store::changes`.
pub struct Changes<'a, V: Vfs> {
    store: &'a Store<V>,
    cursor: ChangeCursor<V>,
}

impl<V: Vfs> Iterator for Changes<'_, V> {
    type Item = Result<Change>;

    fn next(&mut self) -> Option<Self::Item> {
        self.store.next_change(&mut self.cursor)
    }
}
