//! The append position and the records on their way to the file. One
//! `Appender` sits behind the store's append lock, so appends are serialised
//! and each call's records (a whole batch included) are contiguous.

use super::poison::Poison;
use crate::error::{Error, Result};
use crate::format::PREALLOCATION_STEP;
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
    /// The log's header has the PREALLOCATED flag: the file may grow ahead
    /// of its records, to a multiple of `PREALLOCATION_STEP`.
    preallocate: bool,
    /// Where the file is believed to end. Only a hint for when to allocate
    /// next: whatever it says, a write past the file's end grows the file.
    allocated: u64,
}

impl Appender {
    /// An appender at `end`, in a file of `file_len` bytes.
    pub(crate) fn new(
        end: u64,
        next_seq: u64,
        buffer_cap: usize,
        preallocate: bool,
        file_len: u64,
    ) -> Appender {
        Appender {
            end,
            next_seq,
            scratch: Vec::new(),
            buffer: Vec::new(),
            buffer_cap,
            preallocate,
            allocated: file_len,
        }
    }

    /// Carries on in a new log, written up to exactly `end` with a header
    /// that lets it grow ahead (a compaction's).
    pub(crate) fn switch_log(&mut self, end: u64) {
        self.end = end;
        self.preallocate = true;
        self.allocated = end;
    }

    /// At close, with every record durable: cuts the zeros allocated ahead,
    /// so that a closed store takes no more disk than its records. Best
    /// effort: zeros that stay (a failed truncate, or a crash before it
    /// reached the disk) are free space to the next open. Bytes at or past
    /// `end` were never handed to readers, so no mapped read can reach them.
    pub(crate) fn give_back_free_space<F: VfsFile>(&mut self, file: &F) {
        if self.preallocate && self.allocated > self.end && file.set_len(self.end).is_ok() {
            self.allocated = self.end;
        }
    }

    /// Before a write of the bytes up to `end`: grows a preallocated log to
    /// the next multiple of `PREALLOCATION_STEP` past them if they would
    /// pass its end. An fdatasync after an append that grows the file also
    /// writes the new size, which costs a small durable write about a third
    /// of its speed here (2,000 appends of 116 B: 6.2–7.0k against 4.8–5.2k
    /// per second); one `fallocate` per step moves that cost to one append
    /// in thousands. Only an optimisation, so a failure (no space, no
    /// `fallocate` in this file system) is left to the write, which grows
    /// the file itself and reports its own error, and this log grows by its
    /// writes alone until the store is reopened or compacted.
    fn make_room<F: VfsFile>(&mut self, file: &F, end: u64) {
        if !self.preallocate || end <= self.allocated {
            return;
        }
        let to = end.next_multiple_of(PREALLOCATION_STEP);
        match file.allocate(self.allocated, to - self.allocated) {
            Ok(()) => self.allocated = to,
            Err(_) => self.preallocate = false,
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
        self.make_room(file, start + self.scratch.len() as u64);
        if let Err(e) = file.write_all_at(&self.scratch, start) {
            let err = Error::io("append to", path, Some(start), e);
            if let Err(t) = file.set_len(start) {
                let cause = format!("{err}; the rollback (truncate to {start}) failed too: {t}");
                poison.set(cause.clone());
                return Err(Error::Poisoned { cause });
            }
            self.allocated = start;
            return Err(err);
        }
        self.end += self.scratch.len() as u64;
        self.allocated = self.allocated.max(self.end);
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
        self.make_room(file, self.end);
        if let Err(e) = file.write_all_at(&self.buffer, at) {
            let err = Error::io("flush write buffer to", path, Some(at), e);
            poison.set(err.to_string());
            return Err(err);
        }
        self.buffer.clear();
        self.allocated = self.allocated.max(self.end);
        Ok(())
    }
}
