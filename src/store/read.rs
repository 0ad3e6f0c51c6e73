//! The read path: index lookup, then header and payload copied out of the
//! log's memory map (no system call; see `store::map`), or, for what the map
//! does not cover, one positional read; verified either way. Reads never
//! take the append lock, except to copy a record still in the
//! `Durability::None` buffer.

use super::logs::{LogFile, LogSet};
use super::Store;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{decode_header, payload_crc, RecordType, RECORD_HEADER_LEN};
use crate::index::Entry;
use crate::log::verify_record;
use crate::vfs::{Vfs, VfsFile};
use std::io;
use std::sync::atomic::Ordering;

impl<V: Vfs> Store<V> {
    /// The payload of `id`, CRC-checked.
    pub fn retrieve(&self, id: u64) -> Result<Vec<u8>> {
        self.read_looked_up(id, |logs, e| {
            let mut out = vec![0u8; e.len as usize];
            self.read_record(logs, id, e, &mut out)?;
            Ok(out)
        })
    }

    /// Copies the payload of `id` into `buf` and returns its length. If
    /// `buf` is too small, returns `BufferTooSmall` (with the length needed)
    /// without reading the payload.
    pub fn retrieve_into(&self, id: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_looked_up(id, |logs, e| {
            let len = e.len as usize;
            if buf.len() < len {
                return Err(Error::BufferTooSmall {
                    id,
                    needed: len,
                    capacity: buf.len(),
                });
            }
            self.read_record(logs, id, e, &mut buf[..len])?;
            Ok(len)
        })
    }

    /// The payload length of `id`, from the index (nothing is read).
    pub fn payload_len(&self, id: u64) -> Result<usize> {
        self.read_looked_up(id, |_, e| Ok(e.len as usize))
    }

    /// Looks `id` up and runs `read` on its entry. A compaction may switch
    /// generations between the lookup and the read; the entry's parity
    /// keeps the read on the right file, and a reader that slept through
    /// two switches (its file no longer open, or a different one now under
    /// the same parity, whose records fail their CRC) looks the id up again.
    fn read_looked_up<T>(
        &self,
        id: u64,
        mut read: impl FnMut(&LogSet<V::File>, Entry) -> Result<T>,
    ) -> Result<T> {
        loop {
            let switches = self.switches.load(Ordering::Acquire);
            let r = self
                .index
                .get(id)
                .ok_or(Error::NotFound { id })
                .and_then(|e| {
                    let logs = self.logs();
                    if e.damaged {
                        return Err(self.damaged_error(&logs, id, e));
                    }
                    read(&logs, e)
                });
            match r {
                Err(ref err)
                    if err.kind() == ErrorKind::Corruption
                        && self.switches.load(Ordering::Acquire) != switches => {}
                r => return r,
            }
        }
    }

    /// Reads the payload an entry of a cursor points at (verified), from the
    /// logs the cursor captured with its entries.
    pub(crate) fn read_entry(
        &self,
        logs: &LogSet<V::File>,
        id: u64,
        e: Entry,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if e.damaged {
            return Err(self.damaged_error(logs, id, e));
        }
        out.clear();
        out.resize(e.len as usize, 0);
        self.read_record(logs, id, e, out)
    }

    /// The error for an id whose newest record `Salvage` found damaged. The
    /// record is read again so the message carries its CRCs; after a
    /// compaction the entry points at the marker that carries the message
    /// from before.
    pub(crate) fn damaged_error(&self, logs: &LogSet<V::File>, id: u64, e: Entry) -> Error {
        let log = match logs.holding(id, &e) {
            Ok(log) => log,
            Err(err) => return err,
        };
        if let Some(text) = marker_text(log, id, e) {
            return Error::corruption(
                &log.path,
                e.offset,
                format!("id {id} was found damaged before a compaction, as: {text}"),
            );
        }
        let mut scratch = vec![0u8; e.len as usize];
        let found = match self.read_record(logs, id, e, &mut scratch) {
            Err(Error::Corruption { detail, .. }) => detail,
            Err(other) => format!("re-reading it failed: {other}"),
            Ok(()) => "it reads back intact now, but was not at open".to_owned(),
        };
        Error::corruption(
            &log.path,
            e.offset,
            format!("id {id} is damaged (its newest record failed its check at the SALVAGE open): {found}"),
        )
    }

    /// What a compaction keeps about a damaged id: the original report
    /// (file, offset, CRCs), carried unchanged through later compactions.
    pub(crate) fn damage_text(&self, logs: &LogSet<V::File>, id: u64, e: Entry) -> String {
        match logs.holding(id, &e) {
            Ok(log) => marker_text(log, id, e)
                .unwrap_or_else(|| self.damaged_error(logs, id, e).to_string()),
            Err(err) => err.to_string(),
        }
    }

    /// Reads the record of `id` into `out`, verified. On failure `out` holds
    /// zeros.
    pub(crate) fn read_record(
        &self,
        logs: &LogSet<V::File>,
        id: u64,
        e: Entry,
        out: &mut [u8],
    ) -> Result<()> {
        let mut head = [0u8; RECORD_HEADER_LEN];
        let r = logs
            .holding(id, &e)
            .and_then(|log| self.read_record_unchecked(log, id, e, &mut head, out));
        if r.is_err() {
            // Never leave unverified bytes where a caller may read them.
            out.fill(0);
        }
        r
    }

    pub(super) fn read_record_unchecked(
        &self,
        log: &LogFile<V::File>,
        id: u64,
        e: Entry,
        head: &mut [u8; RECORD_HEADER_LEN],
        out: &mut [u8],
    ) -> Result<()> {
        let record_end = e.offset + RECORD_HEADER_LEN as u64 + u64::from(e.len);
        if record_end > self.written.load(Ordering::Acquire) {
            let ap = self.appender.lock();
            let base = ap.flushed_end();
            // The buffer belongs to this store's current log only (not to a
            // log of the same generation that a cursor kept from a store
            // closed before this one opened).
            let ours = e.offset >= base && std::ptr::eq(&*self.logs().current, log);
            let at = ours.then(|| (e.offset - base) as usize..(record_end - base) as usize);
            if let Some(rec) = at.and_then(|at| ap.buffer.get(at)) {
                head.copy_from_slice(&rec[..RECORD_HEADER_LEN]);
                out.copy_from_slice(&rec[RECORD_HEADER_LEN..]);
                return verify_record(&log.path, log.log_id, id, e.offset, head, out);
            }
        }
        // Bytes the file holds for good: copied from the map, no system
        // call. Anything else (not yet below the log's watermark, or a file
        // that cannot be mapped) is read with pread.
        if !log.map.read(&log.file, e.offset, head, out) {
            pread_record(log, id, e, head, out)?;
        }
        verify_record(&log.path, log.log_id, id, e.offset, head, out)
    }

    /// Test hook: the payload of `id` read through the memory map only
    /// (`Ok(None)` when the map cannot serve it: past the log's watermark,
    /// or a file that cannot be mapped), or with `pread` only when `mapped`
    /// is false; verified either way.
    #[doc(hidden)]
    pub fn retrieve_via(&self, id: u64, mapped: bool) -> Result<Option<Vec<u8>>> {
        self.read_looked_up(id, |logs, e| {
            let log = logs.holding(id, &e)?;
            let mut head = [0u8; RECORD_HEADER_LEN];
            let mut out = vec![0u8; e.len as usize];
            if !mapped {
                pread_record(log, id, e, &mut head, &mut out)?;
            } else if !log.map.read(&log.file, e.offset, &mut head, &mut out) {
                return Ok(None);
            }
            verify_record(&log.path, log.log_id, id, e.offset, &head, &out)?;
            Ok(Some(out))
        })
    }
}

/// Reads a record's header and payload with one positional read.
fn pread_record<F: VfsFile>(
    log: &LogFile<F>,
    id: u64,
    e: Entry,
    head: &mut [u8],
    out: &mut [u8],
) -> Result<()> {
    log.file
        .read_exact_at2(head, out, e.offset)
        .map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => Error::corruption(
                &log.path,
                e.offset,
                format!("record of id {id} extends past the end of the log"),
            ),
            _ => Error::io("read", &log.path, Some(e.offset), err),
        })
}

/// The text of the damaged marker of `id` at `e`, if that is what lies
/// there, intact.
fn marker_text<F: VfsFile>(log: &LogFile<F>, id: u64, e: Entry) -> Option<String> {
    let mut head = [0u8; RECORD_HEADER_LEN];
    let mut payload = vec![0u8; e.len as usize];
    log.file
        .read_exact_at2(&mut head, &mut payload, e.offset)
        .ok()?;
    let h = decode_header(&head, log.log_id).ok()?;
    let intact = h.ty == RecordType::DamagedMarker
        && h.id == id
        && h.len == e.len
        && payload_crc(log.log_id, &payload) == h.payload_crc;
    intact.then(|| String::from_utf8_lossy(&payload).into_owned())
}
