//! The open log files. Normally one generation; after a compaction also the
//! one before it, so that a reader holding an index entry from before the
//! switch still finds its record. Entries say which of the two they point
//! into by the parity of the generation.

use super::map::LogMap;
use crate::error::{Error, Result};
use crate::index::Entry;
use std::path::PathBuf;
use std::sync::Arc;

/// One log generation: its file and what identifies its records.
pub(crate) struct LogFile<F> {
    pub(crate) file: F,
    pub(crate) path: PathBuf,
    /// Mixed into every CRC of the file's records: a record read from the
    /// wrong generation fails its check instead of passing as good.
    pub(crate) log_id: u64,
    pub(crate) generation: u64,
    /// The last sequence number a compaction folded into this log (0 for a
    /// log never compacted): a change cursor cannot start at or below it.
    pub(crate) folded_seq: u64,
    /// Reads of the bytes the file holds for good, through a memory map
    /// (see `store::map`); unmapped when the last reader lets go.
    pub(crate) map: LogMap,
}

impl<F> LogFile<F> {
    pub(crate) fn odd(&self) -> bool {
        self.generation & 1 == 1
    }
}

/// The logs a reader may need, captured together.
pub(crate) struct LogSet<F> {
    pub(crate) current: Arc<LogFile<F>>,
    /// The generation a compaction replaced, still open for readers that
    /// looked an id up before the switch.
    pub(crate) previous: Option<Arc<LogFile<F>>>,
}

impl<F> LogSet<F> {
    pub(crate) fn new(current: LogFile<F>) -> LogSet<F> {
        LogSet {
            current: Arc::new(current),
            previous: None,
        }
    }

    /// The log holding the record `e` points at.
    pub(crate) fn holding(&self, id: u64, e: &Entry) -> Result<&Arc<LogFile<F>>> {
        if self.current.odd() == e.odd_gen {
            return Ok(&self.current);
        }
        // Only a reader that slept through two compactions gets here; it
        // looks the id up again.
        self.previous.as_ref().ok_or_else(|| {
            Error::corruption(
                &self.current.path,
                e.offset,
                format!(
                    "the index entry of id {id} points into a log generation that is no \
                     longer open"
                ),
            )
        })
    }
}
