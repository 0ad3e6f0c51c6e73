//! The append position and the records on their way to the file. One
//! `Appender` sits behind the store's append lock, so appends are serialised
//! and each call's records (a whole batch included) are contiguous.

use super::poison::Poison;
use crate::error::{Error, Result};
use crate::vfs::VfsFile;
use std::path::Path;

pub(crate) struct Appender {
    /// Where the next record goes; includes bytes still in `buffer`.
    pub(crate) end: u64,
    pub(crate) next_seq: u64,
    /// The records of the call in progress, encoded.
    pub(crate) scratch: Vec<u8>,
    /// `NONE` durability: records not yet handed to the OS. They belong at
    /// `end - buffer.len()`.
    pub(crate) buffer: Vec<u8>,
    buffer_cap: usize,
}

impl Appender {
    pub(crate) fn new(end: u64, next_seq: u64, buffer_cap: usize) -> Appender {
        Appender {
            end,
            next_seq,
            scratch: Vec::new(),
            buffer: Vec::new(),
            buffer_cap,
        }
    }

    /// Offset where `buffer` starts: everything before it reached the OS.
    pub(crate) fn flushed_end(&self) -> u64 {
        self.end - self.buffer.len() as u64
    }

    pub(crate) fn take_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Appends `scratch` at `end`: into the buffer when `buffered` and it
    /// fits, otherwise with a write to the file. Returns the offset of the
    /// first byte.
    ///
    /// A failed write is rolled back by truncating the file to where the
    /// write began, which leaves the handle usable. If the truncation fails
    /// too, or a buffer flush fails (its records were acknowledged), the
    /// handle is poisoned.
    pub(crate) fn append<F: VfsFile>(
        &mut self,
        file: &F,
        path: &Path,
        buffered: bool,
        poison: &Poison,
    ) -> Result<u64> {
        let start = self.end;
        if buffered {
            if self.buffer.len() + self.scratch.len() > self.buffer_cap {
                self.flush(file, path, poison)?;
            }
            if self.scratch.len() <= self.buffer_cap {
                self.buffer.extend_from_slice(&self.scratch);
                self.end += self.scratch.len() as u64;
                return Ok(start);
            }
        }
        if let Err(e) = file.write_all_at(&self.scratch, start) {
            let err = Error::io("append to", path, Some(start), e);
            if let Err(t) = file.set_len(start) {
                let cause = format!("{err}; the rollback (truncate to {start}) failed too: {t}");
                poison.set(cause.clone());
                return Err(Error::Poisoned { cause });
            }
            return Err(err);
        }
        self.end += self.scratch.len() as u64;
        Ok(start)
    }

    /// Hands the buffered records to the OS. A failure poisons the handle:
    /// those records were acknowledged, and what reached the file is unknown.
    pub(crate) fn flush<F: VfsFile>(
        &mut self,
        file: &F,
        path: &Path,
        poison: &Poison,
    ) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let at = self.flushed_end();
        if let Err(e) = file.write_all_at(&self.buffer, at) {
            let err = Error::io("flush write buffer to", path, Some(at), e);
            poison.set(err.to_string());
            return Err(err);
        }
        self.buffer.clear();
        Ok(())
    }
}
