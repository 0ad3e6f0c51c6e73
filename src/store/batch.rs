//! Mixed write batches: stores, deletes and range deletes written as one
//! unit (one write, one flush or fsync, all or nothing after a crash). A
//! Raft log needs them: truncating a suffix or purging a prefix is "delete
//! these" and must never be half done.

use crate::error::{Error, Result};
use crate::format::record::RANGE_PAYLOAD_LEN;
use crate::format::{encode_record, RecordType};
use crate::log::{Appender, IndexOp};

/// One operation of a batch, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp<'a> {
    Store {
        id: u64,
        data: &'a [u8],
    },
    /// Deletes `id`; an id that is not in the store is no error.
    Delete {
        id: u64,
    },
    /// Deletes every id in `lo..=hi`, as one record.
    DeleteRange {
        lo: u64,
        hi: u64,
    },
}

/// A batch built up before it is written with [`super::Store::write_batch`].
/// Operations apply in the order they were added: a later one for the same
/// id wins.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    ops: Vec<Op>,
    data: Vec<u8>,
}

/// `BatchOp` with the payload kept as a range of `WriteBatch::data`.
#[derive(Debug, Clone, Copy)]
enum Op {
    Store { id: u64, start: usize, len: usize },
    Delete { id: u64 },
    DeleteRange { lo: u64, hi: u64 },
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Stores `data` under `id` (the bytes are copied into the batch).
    pub fn store(&mut self, id: u64, data: &[u8]) -> &mut WriteBatch {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.ops.push(Op::Store {
            id,
            start,
            len: data.len(),
        });
        self
    }

    /// Deletes `id`. Unlike [`super::Store::delete`], an id that is not in
    /// the store is not an error.
    pub fn delete(&mut self, id: u64) -> &mut WriteBatch {
        self.ops.push(Op::Delete { id });
        self
    }

    /// Deletes every id from `lo` to `hi`, both included, as one record
    /// whatever the number of ids. `lo > hi` is refused when the batch is
    /// written.
    pub fn delete_range(&mut self, lo: u64, hi: u64) -> &mut WriteBatch {
        self.ops.push(Op::DeleteRange { lo, hi });
        self
    }

    /// Operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Empties the batch, keeping its memory for reuse.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.data.clear();
    }

    /// The operations, in order.
    pub fn ops(&self) -> impl ExactSizeIterator<Item = BatchOp<'_>> + Clone + '_ {
        self.ops.iter().map(|op| match *op {
            Op::Store { id, start, len } => BatchOp::Store {
                id,
                data: &self.data[start..start + len],
            },
            Op::Delete { id } => BatchOp::Delete { id },
            Op::DeleteRange { lo, hi } => BatchOp::DeleteRange { lo, hi },
        })
    }
}

/// Refuses a range whose ends are the wrong way round.
pub(crate) fn check_range(lo: u64, hi: u64) -> Result<()> {
    if lo > hi {
        return Err(Error::InvalidArgument(format!(
            "range delete from id {lo} to id {hi}: the low end is above the high end"
        )));
    }
    Ok(())
}

/// Encodes `ops` into the appender's scratch buffer: a lone operation as
/// one record, more as a framed batch (begin, the records, commit). Returns
/// the index changes to publish once the records are written (or durable).
pub(crate) fn encode_ops<'a>(
    ap: &mut Appender,
    log_id: u64,
    odd_gen: bool,
    ops: impl ExactSizeIterator<Item = BatchOp<'a>>,
) -> Vec<IndexOp> {
    let count = ops.len() as u64;
    let framed = count > 1;
    if framed {
        let s = ap.take_seq();
        encode_record(
            &mut ap.scratch,
            log_id,
            RecordType::BatchBegin,
            s,
            count,
            &[],
        );
    }
    let mut index_ops = Vec::with_capacity(ops.len());
    for op in ops {
        let offset = ap.end + ap.scratch.len() as u64;
        let s = ap.take_seq();
        let range_end: [u8; RANGE_PAYLOAD_LEN];
        let (ty, id, payload, index_op) = match op {
            BatchOp::Store { id, data } => (
                RecordType::Put,
                id,
                data,
                IndexOp::Put {
                    id,
                    offset,
                    len: data.len() as u32,
                    odd_gen,
                },
            ),
            BatchOp::Delete { id } => (RecordType::Delete, id, &[][..], IndexOp::Delete { id }),
            BatchOp::DeleteRange { lo, hi } => {
                range_end = hi.to_le_bytes();
                (
                    RecordType::DeleteRange,
                    lo,
                    &range_end[..],
                    IndexOp::DeleteRange { lo, hi },
                )
            }
        };
        encode_record(&mut ap.scratch, log_id, ty, s, id, payload);
        index_ops.push(index_op);
    }
    if framed {
        let s = ap.take_seq();
        encode_record(
            &mut ap.scratch,
            log_id,
            RecordType::BatchCommit,
            s,
            count,
            &[],
        );
    }
    index_ops
}
