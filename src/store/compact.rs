//! Compaction: the live records are rewritten into the next log generation,
//! which replaces the current one in a single rename.
//!
//! 1. Under the append lock, briefly: everything written so far is made
//!    durable and the index is copied. That copy, sorted by offset, is
//!    written to `wal-<next>.log.tmp` without any lock: one store record
//!    per live id, keeping its sequence number, or a damaged marker for an
//!    id a `SALVAGE` open found damaged. Readers and writers go on.
//! 2. The records written meanwhile are copied as they are (stores,
//!    deletes, range deletes, batch framing), again without a lock.
//! 3. Under the append lock: the last few records are copied, the new file
//!    is fsynced, renamed to `wal-<next>.log` and the directory fsynced.
//!    Only then does the store switch: new writes go to the new log, the
//!    index points into it, and the old log stays open for readers that
//!    looked an id up before the switch.
//! 4. The old log and its snapshots are removed.
//!
//! A crash before the rename is durable leaves the old generation current
//! (the next open removes the unfinished file); after it, the new one,
//! which holds every acknowledged write (the next open removes the old
//! log). No mix is possible, and a deleted id cannot come back: the new log
//! holds no record of it at all.

use super::logs::{LogFile, LogSet};
use super::map::LogMap;
use super::Store;
use crate::error::{Error, Result};
use crate::format::header::le_u64;
use crate::format::names::{log_file_name, log_temp_file_name};
use crate::format::record::decode_range_end;
use crate::format::{
    decode_header, encode_record, payload_crc, RecordType, FILE_HEADER_LEN, RECORD_HEADER_LEN,
};
use crate::index::Entry;
use crate::log::new_header;
use crate::snapshot;
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// The new log generation.
    pub generation: u64,
    /// Log bytes before (when the compaction began) and after (when it
    /// switched, records written meanwhile included).
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Live ids copied (damaged ones included).
    pub live_ids: u64,
    /// Records written during the compaction and carried over.
    pub carried_records: u64,
    /// Change cursors can start only above this sequence number now.
    pub folded_seq: u64,
    /// Removing the old log or its snapshots failed (the next open removes
    /// them); the compaction itself succeeded.
    pub cleanup_error: Option<String>,
    pub duration: Duration,
}

/// Output buffered this far before it is written.
const CHUNK: usize = 1 << 20;

impl<V: Vfs> Store<V> {
    /// Rewrites the live records into a new log generation and switches to
    /// it, reclaiming the space of overwritten and deleted payloads.
    /// Readers go on throughout; writers wait only while the index is
    /// copied and for the final switch. One compaction or snapshot runs at
    /// a time. On failure before the switch the store goes on with the old
    /// log; a failed directory fsync after the rename poisons the handle
    /// (reopening finds one complete generation or the other).
    pub fn compact(&self) -> Result<CompactReport> {
        let started = Instant::now();
        self.check_writable("compact")?;
        let _one_at_a_time = self.snapshot_lock.lock();
        self.sync()?;
        let (old, from, folded_seq, frozen) = {
            let mut ap = self.appender.lock();
            let log = self.current();
            self.flush_buffer(&mut ap, &log)?;
            self.wait_durable(&log, ap.end, false)?;
            let frozen = self.commit.quiesced(|_| self.index.freeze());
            (log, ap.end, ap.next_seq - 1, frozen)
        };
        let mut entries = frozen.entries();
        drop(frozen);
        entries.sort_unstable_by_key(|(_, e)| e.offset);
        let live_ids = entries.len() as u64;
        let logs = self.logs();
        let mut out = Rewriter::create(&self.vfs, &self.dir, old.generation + 1, folded_seq)?;

        let copied = (|| {
            for (id, e) in entries {
                if self.closed.load(Ordering::Acquire) {
                    return Err(Error::InvalidArgument(format!(
                        "compaction of {} abandoned: the store is closing",
                        self.dir.display()
                    )));
                }
                out.copy_live(self, &logs, &old, id, e)?;
            }
            // What was written meanwhile, up to what is durable now.
            // (`old` stays current: only a compaction switches, and this
            // one holds the snapshot lock.)
            let end = {
                let mut ap = self.appender.lock();
                self.flush_buffer(&mut ap, &old)?;
                ap.end
            };
            self.wait_durable(&old, end, false)?;
            out.copy_records(&old, from, end)?;
            Ok(end)
        })();
        let caught_up = match copied {
            Ok(end) => end,
            Err(e) => return Err(out.abandon(&self.vfs, e)),
        };

        let mut ap = self.appender.lock();
        let switched = (|| {
            self.flush_buffer(&mut ap, &old)?;
            self.wait_durable(&old, ap.end, false)?;
            out.copy_records(&old, caught_up, ap.end)?;
            out.finish()?;
            self.check_rewrite(&out)
        })();
        if let Err(e) = switched {
            return Err(out.abandon(&self.vfs, e));
        }
        let Rewriter {
            file,
            temp_path,
            path,
            log_id,
            generation,
            end,
            live,
            carried,
            ..
        } = out;
        if let Err(e) = self.vfs.rename(&temp_path, &path) {
            let _ = self.vfs.remove_file(&temp_path);
            return Err(Error::io("rename compacted log", &temp_path, None, e));
        }
        if let Err(e) = self.vfs.sync_dir(&self.dir) {
            // Whether the rename is durable is unknown: this handle can no
            // longer tell which generation a crash would leave.
            let err = Error::io("fsync directory", &self.dir, None, e);
            self.poison
                .set(format!("after renaming the compacted log: {err}"));
            return Err(err);
        }
        let new = Arc::new(LogFile {
            file,
            path,
            log_id,
            generation,
            folded_seq,
            // The new log is complete and durable up to `end`.
            map: LogMap::new(end),
        });
        *self.logs.write() = Arc::new(LogSet {
            current: new.clone(),
            previous: Some(old.clone()),
        });
        self.switches.fetch_add(1, Ordering::AcqRel);
        self.generation.store(generation, Ordering::Release);
        for (id, e) in live {
            self.index.insert(id, e);
        }
        ap.switch_log(end);
        self.written.store(end, Ordering::Release);
        self.position.store(end, Ordering::Release);
        self.commit.switch(generation, end, ap.next_seq - 1);
        self.newest_snapshot.reset(FILE_HEADER_LEN as u64);
        drop(ap);

        let cleanup_error = self.remove_generation(&old).err().map(|e| e.to_string());
        Ok(CompactReport {
            generation,
            bytes_before: from,
            bytes_after: end,
            live_ids,
            carried_records: carried,
            folded_seq,
            cleanup_error,
            duration: started.elapsed(),
        })
    }

    /// Before the rename: the rewritten log must name exactly the ids the
    /// index holds (the append lock is held, so the index is still).
    fn check_rewrite(&self, out: &Rewriter<V::File>) -> Result<()> {
        let same = self.index.len() == out.live.len()
            && out.live.keys().all(|id| self.index.get(*id).is_some());
        if same {
            return Ok(());
        }
        Err(Error::corruption(
            &out.temp_path,
            0,
            format!(
                "the compacted log holds {} ids but the index {}: compaction abandoned",
                out.live.len(),
                self.index.len()
            ),
        ))
    }

    /// Removes a replaced log and the snapshots of its generation.
    fn remove_generation(&self, old: &LogFile<V::File>) -> Result<()> {
        self.vfs
            .remove_file(&old.path)
            .map_err(|e| Error::io("remove replaced log", &old.path, None, e))?;
        let listing = snapshot::list(&self.vfs, &self.dir, old.generation)?;
        for (_, p) in listing.ours {
            self.vfs
                .remove_file(&p)
                .map_err(|e| Error::io("remove snapshot of replaced log", &p, None, e))?;
        }
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync directory", &self.dir, None, e))
    }
}

/// The new generation being written.
struct Rewriter<F> {
    file: F,
    temp_path: PathBuf,
    path: PathBuf,
    log_id: u64,
    generation: u64,
    /// Encoded records not yet written, and the file offset they start at.
    buf: Vec<u8>,
    buf_at: u64,
    /// Where the next record goes.
    end: u64,
    /// The index the new log describes: id to its record in the new log.
    live: HashMap<u64, Entry>,
    /// Records carried over from the writes made during the compaction.
    carried: u64,
}

impl<F: VfsFile> Rewriter<F> {
    fn create<V: Vfs<File = F>>(
        vfs: &V,
        dir: &Path,
        generation: u64,
        folded_seq: u64,
    ) -> Result<Rewriter<F>> {
        let temp_path = dir.join(log_temp_file_name(generation));
        // One left by an earlier attempt of this handle that failed.
        match vfs.remove_file(&temp_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove", &temp_path, None, e))
            }
            _ => {}
        }
        let file = vfs
            .open(&temp_path, OpenMode::CreateNew)
            .map_err(|e| Error::io("create", &temp_path, None, e))?;
        let h = new_header(generation, folded_seq)?;
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 8);
        buf.extend_from_slice(&h.encode());
        Ok(Rewriter {
            file,
            temp_path,
            path: dir.join(log_file_name(generation)),
            log_id: h.log_id,
            generation,
            buf,
            buf_at: 0,
            end: FILE_HEADER_LEN as u64,
            live: HashMap::new(),
            carried: 0,
        })
    }

    /// Appends one record; returns its offset in the new log.
    fn push(&mut self, ty: RecordType, seq: u64, id: u64, payload: &[u8]) -> Result<u64> {
        let at = self.end;
        encode_record(&mut self.buf, self.log_id, ty, seq, id, payload);
        self.end += (RECORD_HEADER_LEN + payload.len()) as u64;
        if self.buf.len() >= CHUNK {
            self.write_out()?;
        }
        Ok(at)
    }

    fn write_out(&mut self) -> Result<()> {
        self.file
            .write_all_at(&self.buf, self.buf_at)
            .map_err(|e| Error::io("write", &self.temp_path, Some(self.buf_at), e))?;
        self.buf_at += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn entry(&self, offset: u64, len: usize, damaged: bool) -> Entry {
        Entry {
            offset,
            len: len as u32,
            damaged,
            odd_gen: self.generation & 1 == 1,
        }
    }

    /// Copies the newest record of a live id (verified), or writes a
    /// damaged marker for an id found damaged.
    fn copy_live<V: Vfs<File = F>>(
        &mut self,
        store: &Store<V>,
        logs: &LogSet<F>,
        old: &LogFile<F>,
        id: u64,
        e: Entry,
    ) -> Result<()> {
        let mut head = [0u8; RECORD_HEADER_LEN];
        let mut payload = vec![0u8; e.len as usize];
        if e.damaged {
            old.file
                .read_exact_at(&mut head, e.offset)
                .map_err(|err| Error::io("read", &old.path, Some(e.offset), err))?;
            let seq = decode_header(&head, old.log_id)
                .map_err(|_| {
                    Error::corruption(
                        &old.path,
                        e.offset,
                        format!("the header of damaged id {id} no longer reads back intact"),
                    )
                })?
                .seq;
            let text = store.damage_text(logs, id, e);
            let at = self.push(RecordType::DamagedMarker, seq, id, text.as_bytes())?;
            self.live.insert(id, self.entry(at, text.len(), true));
            return Ok(());
        }
        store.read_record_unchecked(old, id, e, &mut head, &mut payload)?;
        let seq = le_u64(&head[8..16]);
        let at = self.push(RecordType::Put, seq, id, &payload)?;
        self.live.insert(id, self.entry(at, payload.len(), false));
        Ok(())
    }

    /// Carries the records of `old` in `[from, to)` over, each verified,
    /// and applies them to the new index. They are whole, durable and
    /// published, so anything but an intact record is damage.
    fn copy_records(&mut self, old: &LogFile<F>, from: u64, to: u64) -> Result<()> {
        let mut pos = from;
        let mut head = [0u8; RECORD_HEADER_LEN];
        let mut payload = Vec::new();
        while pos < to {
            let damaged = |detail: String| Error::corruption(&old.path, pos, detail);
            old.file
                .read_exact_at(&mut head, pos)
                .map_err(|e| Error::io("read", &old.path, Some(pos), e))?;
            let h = decode_header(&head, old.log_id)
                .map_err(|e| damaged(format!("a record written during compaction: {e}")))?;
            payload.resize(h.len as usize, 0);
            old.file
                .read_exact_at(&mut payload, pos + RECORD_HEADER_LEN as u64)
                .map_err(|e| Error::io("read", &old.path, Some(pos), e))?;
            let actual = payload_crc(old.log_id, &payload);
            if actual != h.payload_crc {
                return Err(damaged(format!(
                    "payload CRC mismatch in a record written during compaction: expected \
                     {:#010x}, actual {actual:#010x}",
                    h.payload_crc
                )));
            }
            let at = self.push(h.ty, h.seq, h.id, &payload)?;
            match h.ty {
                RecordType::Put => {
                    let e = self.entry(at, payload.len(), false);
                    self.live.insert(h.id, e);
                }
                RecordType::Delete => {
                    self.live.remove(&h.id);
                }
                RecordType::DeleteRange => {
                    let hi = decode_range_end(&payload)
                        .filter(|hi| *hi >= h.id)
                        .ok_or_else(|| damaged("range delete without a valid end".into()))?;
                    self.live.retain(|id, _| !(h.id..=hi).contains(id));
                }
                RecordType::BatchBegin | RecordType::BatchCommit => {}
                RecordType::DamagedMarker => {
                    return Err(damaged(
                        "damaged marker among records written during compaction".into(),
                    ))
                }
            }
            self.carried += u64::from(matches!(
                h.ty,
                RecordType::Put | RecordType::Delete | RecordType::DeleteRange
            ));
            pos += h.total_len();
        }
        Ok(())
    }

    /// Writes what is buffered and makes the file durable.
    fn finish(&mut self) -> Result<()> {
        self.write_out()?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("fsync", &self.temp_path, None, e))
    }

    /// Gives up: the unfinished file is removed (an open would remove it
    /// too) and `e` returned.
    fn abandon<V: Vfs<File = F>>(self, vfs: &V, e: Error) -> Error {
        drop(self.file);
        let _ = vfs.remove_file(&self.temp_path);
        e
    }
}
