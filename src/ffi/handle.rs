//! `wal_t`: open, close, and every call on an open store.

use super::boundary::{arg_bytes, arg_ref, check_out, guard, guard_value, null_arg, write_out};
use super::options::wal_options;
use super::status::wal_status;
use crate::error::{Error, Result};
use crate::store::{Options, Store};
use std::ffi::{c_char, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open store. Safe to use from many threads at once. Create with
/// `wal_open`, destroy with `wal_close`.
#[allow(non_camel_case_types)]
pub struct wal_t {
    pub(crate) store: Store,
    /// The torn-tail side file's path, kept for `wal_open_torn_tail_path`.
    tail_path: Option<CString>,
}

/// One entry of a batch for `wal_store_batch`. `data` may be NULL when
/// `len` is 0.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct wal_entry {
    pub id: u64,
    pub data: *const u8,
    pub len: usize,
}

/// # Safety
/// A non-NULL `w` is a live handle from `wal_open`.
pub(crate) unsafe fn handle<'a>(w: *const wal_t) -> Result<&'a wal_t> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { arg_ref(w, "w") }
}

/// Opens (creating if needed, unless read-only) the store in directory
/// `dir`, with `opts` or, when `opts` is NULL, the defaults. On WAL_OK,
/// `*out` holds a new handle, owned by the caller until `wal_close`; on
/// failure `*out` is not written. After a successful open, the
/// `wal_open_*` getters report what recovery did.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL or empty `dir`, NULL `out`);
/// WAL_LOCKED (another handle holds the store); WAL_INCOMPATIBLE (not a
/// walstore log, or an unknown format version: left untouched);
/// WAL_CORRUPTION (a damaged file header; damage followed by valid records;
/// any damage under ABSOLUTE; a log longer than its header that reads as all
/// zeros; or a newest log generation without a complete header beside an
/// older one); WAL_IO or WAL_NO_SPACE (the directory is missing for a
/// read-only open, is not a directory, or a system call failed).
///
/// # Safety
/// `dir` is NULL or a NUL-terminated string; `opts` is NULL or a live
/// pointer from `wal_options_new`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open(
    dir: *const c_char,
    opts: *const wal_options,
    out: *mut *mut wal_t,
) -> wal_status {
    guard("wal_open", || {
        check_out(out, "out")?;
        if dir.is_null() {
            return Err(null_arg("dir"));
        }
        // SAFETY: non-NULL and NUL-terminated by the caller's contract.
        let dir = OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes());
        if dir.is_empty() {
            return Err(Error::InvalidArgument("dir is an empty string".into()));
        }
        let defaults = Options::default();
        let opts = if opts.is_null() {
            &defaults
        } else {
            // SAFETY: non-NULL, from wal_options_new, by contract.
            &unsafe { &*opts }.inner
        };
        let store = Store::open(Path::new(dir), opts)?;
        let tail_path = store
            .open_report()
            .torn_tail
            .as_ref()
            .and_then(|t| t.saved_to.as_ref())
            .map(|p| CString::new(p.as_os_str().as_bytes()).expect("paths hold no NUL"));
        let h = Box::into_raw(Box::new(wal_t { store, tail_path }));
        // SAFETY: out was checked non-NULL above.
        unsafe { write_out(out, h) };
        Ok(())
    })
}

/// Syncs (flushing any WAL_DURABILITY_NONE buffer and running fdatasync),
/// releases the lock and frees the handle. The handle is freed even when
/// the final sync fails; that failure is returned. NULL is a no-op
/// returning WAL_OK.
///
/// Returns WAL_OK, WAL_IO, WAL_NO_SPACE or WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle from `wal_open`; no other thread uses it
/// during or after this call.
#[no_mangle]
pub unsafe extern "C" fn wal_close(w: *mut wal_t) -> wal_status {
    guard("wal_close", || {
        if w.is_null() {
            return Ok(());
        }
        // SAFETY: from Box::into_raw in wal_open; the caller gives it up.
        let h = unsafe { Box::from_raw(w) };
        h.store.close()
    })
}

/// Stores `len` bytes at `data` under `id`, replacing any earlier payload.
/// A zero-length payload is valid, and `data` may then be NULL. walstore
/// copies the bytes; the caller keeps ownership of `data`. Returns when the
/// write is as durable as the handle's durability level says.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w`, NULL `data` with a
/// non-zero `len`, `len` over the largest payload, a read-only store);
/// WAL_IO or WAL_NO_SPACE (the write failed and was rolled back, and the
/// handle stays usable; or, under FSYNC, the fdatasync failed, or under
/// NONE, flushing the buffer failed, and the handle is now poisoned);
/// WAL_POISONED (an earlier failure poisoned the handle, or this call's
/// write failed and so did its rollback).
///
/// # Safety
/// `w` is NULL or a live handle; a non-NULL `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn wal_store(
    w: *mut wal_t,
    id: u64,
    data: *const u8,
    len: usize,
) -> wal_status {
    // SAFETY: wal_store's contract is store_one's.
    guard("wal_store", || {
        unsafe { store_one(w, id, data, len) }.map(drop)
    })
}

/// The body of `wal_store` and `wal_store_seq`; returns the sequence number.
///
/// # Safety
/// As `wal_store`.
pub(crate) unsafe fn store_one(w: *mut wal_t, id: u64, data: *const u8, len: usize) -> Result<u64> {
    // SAFETY: live handle by contract.
    let h = unsafe { handle(w) }?;
    h.store.check_payload(id, len)?;
    // SAFETY: by contract data holds len bytes; len fits the payload limit,
    // far below isize::MAX.
    let data = unsafe { arg_bytes(data, len, "data") }?;
    h.store.store_seq(id, data)
}

/// Stores `count` entries with one write and one flush or fsync. After a
/// crash, either every entry is there or none is. If the same id appears
/// twice, the later entry wins. `count == 0` is a no-op returning WAL_OK
/// (and `entries` may then be NULL), except on a read-only handle. An invalid entry (NULL data with a
/// non-zero length, a payload over the limit) rejects the whole batch
/// before anything is written.
///
/// Returns the same codes as `wal_store`.
///
/// # Safety
/// `w` is NULL or a live handle; a non-NULL `entries` points to `count`
/// entries whose non-NULL `data` point to `len` bytes each.
#[no_mangle]
pub unsafe extern "C" fn wal_store_batch(
    w: *mut wal_t,
    entries: *const wal_entry,
    count: usize,
) -> wal_status {
    // SAFETY: wal_store_batch's contract is store_many's.
    guard("wal_store_batch", || {
        unsafe { store_many(w, entries, count) }.map(drop)
    })
}

/// The body of `wal_store_batch` and `wal_store_batch_seq`.
///
/// # Safety
/// As `wal_store_batch`.
pub(crate) unsafe fn store_many(
    w: *mut wal_t,
    entries: *const wal_entry,
    count: usize,
) -> Result<u64> {
    // SAFETY: live handle by contract.
    let h = unsafe { handle(w) }?;
    if count == 0 {
        // Still through the store, so a read-only handle refuses it as it
        // refuses every write.
        return h.store.store_batch_seq(&[]);
    }
    if entries.is_null() {
        return Err(Error::InvalidArgument(format!(
            "entries is NULL but count is {count}"
        )));
    }
    // SAFETY: non-NULL and holding count entries by contract.
    let entries = unsafe { std::slice::from_raw_parts(entries, count) };
    let mut batch = Vec::with_capacity(count);
    for (i, e) in entries.iter().enumerate() {
        h.store.check_payload(e.id, e.len)?;
        // SAFETY: by contract; len is within the payload limit.
        let data = unsafe { arg_bytes(e.data, e.len, &format!("entries[{i}].data")) }?;
        batch.push((e.id, data));
    }
    h.store.store_batch_seq(&batch)
}

/// Copies the payload of `id` into `buf` (capacity `cap` bytes) and sets
/// `*out_len` to its length. Every read checks the record's CRCs.
///
/// If `cap` is too small, returns WAL_BUFFER_TOO_SMALL and sets `*out_len`
/// to the length needed, without reading the payload: the one exception to
/// "out-parameters are written only on success". `buf` may be NULL only
/// when `cap` is 0, which makes the call a size query.
///
/// Returns WAL_OK; WAL_NOT_FOUND; WAL_BUFFER_TOO_SMALL; WAL_INVALID_ARGUMENT
/// (NULL `w` or `out_len`, NULL `buf` with `cap` > 0); WAL_CORRUPTION (the
/// record fails its check: the message names the offset and CRCs); WAL_IO.
/// After WAL_CORRUPTION or WAL_IO, `buf` is either untouched or holds zeros
/// where the payload would go: never unverified bytes.
///
/// # Safety
/// `w` is NULL or a live handle; a non-NULL `buf` has `cap` writable bytes;
/// `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_retrieve(
    w: *mut wal_t,
    id: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> wal_status {
    guard("wal_retrieve", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out_len, "out_len")?;
        if buf.is_null() && cap > 0 {
            return Err(Error::InvalidArgument(format!(
                "buf is NULL but cap is {cap}"
            )));
        }
        let out: &mut [u8] = if buf.is_null() {
            &mut []
        } else {
            // SAFETY: non-NULL, and by contract holds cap writable bytes; no
            // real buffer exceeds isize::MAX bytes.
            unsafe { std::slice::from_raw_parts_mut(buf, cap.min(isize::MAX as usize)) }
        };
        let r = h.store.retrieve_into(id, out);
        match r {
            Ok(n) => {
                // SAFETY: checked non-NULL above.
                unsafe { write_out(out_len, n) };
                Ok(())
            }
            Err(e @ Error::BufferTooSmall { needed, .. }) => {
                // SAFETY: checked non-NULL above.
                unsafe { write_out(out_len, needed) };
                Err(e)
            }
            Err(e) => Err(e),
        }
    })
}

/// Like `wal_retrieve`, but walstore allocates the buffer: on WAL_OK,
/// `*out` points to `*out_len` bytes that the caller owns and must free
/// with `wal_buf_free` (a zero-length payload still gets a non-NULL
/// pointer). On failure neither output is written.
///
/// Returns WAL_OK; WAL_NOT_FOUND; WAL_INVALID_ARGUMENT (NULL `w`, `out` or
/// `out_len`); WAL_CORRUPTION; WAL_IO.
///
/// # Safety
/// `w` is NULL or a live handle; `out` and `out_len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_retrieve_alloc(
    w: *mut wal_t,
    id: u64,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> wal_status {
    guard("wal_retrieve_alloc", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        check_out(out_len, "out_len")?;
        let payload = h.store.retrieve(id)?;
        // SAFETY: malloc has no preconditions; at least 1 byte so a
        // zero-length payload still gets a unique, freeable pointer.
        let p = unsafe { libc::malloc(payload.len().max(1)) }.cast::<u8>();
        if p.is_null() {
            return Err(Error::io(
                "allocate a buffer for",
                format!("id {id}"),
                None,
                std::io::Error::from_raw_os_error(libc::ENOMEM),
            ));
        }
        // SAFETY: p has room for payload.len() bytes and does not overlap
        // the Vec; both out-pointers were checked non-NULL.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), p, payload.len());
            write_out(out, p);
            write_out(out_len, payload.len());
        }
        Ok(())
    })
}

/// Frees a buffer returned by `wal_retrieve_alloc`. NULL is a no-op.
///
/// # Safety
/// `buf` is NULL or an unfreed pointer from `wal_retrieve_alloc`.
#[no_mangle]
pub unsafe extern "C" fn wal_buf_free(buf: *mut u8) {
    guard_value("wal_buf_free", (), || {
        // SAFETY: the pointer came from malloc in wal_retrieve_alloc (or is
        // NULL, which free accepts).
        unsafe { libc::free(buf.cast()) }
    })
}

/// Deletes `id` by writing a tombstone. Deleting an id that is not in the
/// store returns WAL_NOT_FOUND and writes nothing.
///
/// Returns WAL_OK; WAL_NOT_FOUND; WAL_INVALID_ARGUMENT (NULL `w`, read-only
/// store); WAL_IO or WAL_NO_SPACE (as for `wal_store`); WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_delete(w: *mut wal_t, id: u64) -> wal_status {
    guard("wal_delete", || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.delete(id)
    })
}

/// Makes every write acknowledged so far survive power loss (flushes the
/// WAL_DURABILITY_NONE buffer, then fdatasync), whatever the durability
/// level. A failed fsync poisons the handle; it is never retried. On a
/// read-only store it does nothing.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w`); WAL_IO; WAL_NO_SPACE;
/// WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_sync(w: *mut wal_t) -> wal_status {
    guard("wal_sync", || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.sync()
    })
}

/// Writes a snapshot of the index (file `snapshot-<generation>-<position>.snap`),
/// so that the next open loads it and replays only the log written after
/// it. Before the snapshot names a log position, the log up to there is made
/// durable: most of it before writers are held up; writers then wait while
/// the records written meanwhile are synced (one fdatasync) and the index
/// is copied, not while the snapshot is written. Readers never wait. The
/// previous snapshot is removed once the new one is durable.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w`, read-only store); WAL_IO
/// or WAL_NO_SPACE (syncing the log failed, which poisons the handle;
/// writing the snapshot failed; or removing the previous snapshot failed,
/// after the new one was in place); WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_snapshot(w: *mut wal_t) -> wal_status {
    guard("wal_snapshot", || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.snapshot().map(drop)
    })
}

/// Sets `*out` to the log position the newest snapshot covers (64, the
/// first record's offset, when there is none). Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_snapshot_position(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_snapshot_position", w, out, |s| {
        Ok(s.snapshot_position())
    })
}

/// Sets `*out` to the log position of the snapshot the open loaded (it then
/// replayed only the log after it). Returns WAL_OK; WAL_NOT_FOUND when the
/// open replayed the whole log (no snapshot, or none it could trust: a
/// damaged, foreign or stale snapshot is never used); WAL_INVALID_ARGUMENT
/// for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_snapshot_used(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_open_snapshot_used", w, out, |s| {
        s.open_report()
            .snapshot_used
            .ok_or(Error::NothingToReport("the open loaded no snapshot"))
    })
}

/// True when the log has grown by at least the snapshot threshold since the
/// newest snapshot (or, with none, since the start of the log), and the
/// records written after that snapshot number at least a quarter of its
/// entries or take 16 times its size. Lock-free (five atomic loads), so it
/// is cheap to call after every write. False for NULL `w` or a threshold
/// of 0.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_should_snapshot(w: *const wal_t) -> bool {
    guard_value("wal_should_snapshot", false, || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }.is_ok_and(|h| h.store.should_snapshot())
    })
}

/// Reads one u64 fact about the handle into `*out`.
pub(crate) fn getter(
    name: &str,
    w: *const wal_t,
    out: *mut u64,
    f: impl FnOnce(&Store) -> Result<u64>,
) -> wal_status {
    guard(name, || {
        // SAFETY: live handle by contract of every getter.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        let v = f(&h.store)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// Sets `*out` to the log position: the offset where the next record goes.
/// Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_log_position(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_log_position", w, out, |s| Ok(s.log_position()))
}

/// Sets `*out` to the number of store and delete records the open replayed
/// (batch framing records are not counted; damaged records a SALVAGE open
/// marked are counted here and in `wal_open_damaged_records`). Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_records_replayed(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_open_records_replayed", w, out, |s| {
        Ok(s.open_report().records_replayed)
    })
}

/// Sets `*out` to the number of damaged records a SALVAGE open passed over
/// (their ids read back as WAL_CORRUPTION). Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_damaged_records(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_open_damaged_records", w, out, |s| {
        Ok(s.open_report().damaged_records)
    })
}

/// Sets `*out` to whether the open found a log that never got its complete
/// header (empty, a prefix of a header, or at most 64 bytes of zeros: a
/// crash while it was being created, before any record) and started it
/// afresh. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_reinitialised(w: *const wal_t, out: *mut bool) -> wal_status {
    guard("wal_open_reinitialised", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, h.store.open_report().reinitialised) };
        Ok(())
    })
}

/// Reports the torn tail the open found: `*offset` is where it began (the
/// log now ends there) and `*bytes` its length. A writable open saved those
/// bytes to a side file (see `wal_open_torn_tail_path`) and cut them; a
/// read-only open left them in place and ignores them.
///
/// Returns WAL_OK; WAL_NOT_FOUND when there was no torn tail (outputs not
/// written); WAL_INVALID_ARGUMENT for a NULL argument.
///
/// # Safety
/// `w` is NULL or a live handle; `offset` and `bytes` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_torn_tail(
    w: *const wal_t,
    offset: *mut u64,
    bytes: *mut u64,
) -> wal_status {
    guard("wal_open_torn_tail", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(offset, "offset")?;
        check_out(bytes, "bytes")?;
        let t = h
            .store
            .open_report()
            .torn_tail
            .as_ref()
            .ok_or_else(no_tail)?;
        // SAFETY: both checked non-NULL above.
        unsafe {
            write_out(offset, t.offset);
            write_out(bytes, t.bytes);
        }
        Ok(())
    })
}

/// Sets `*path` to the side file that holds the torn tail the open cut. The
/// string belongs to the handle and stays valid until `wal_close`.
///
/// Returns WAL_OK; WAL_NOT_FOUND when no tail was cut (none found, or a
/// read-only open); WAL_INVALID_ARGUMENT for a NULL argument.
///
/// # Safety
/// `w` is NULL or a live handle; `path` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_torn_tail_path(
    w: *const wal_t,
    path: *mut *const c_char,
) -> wal_status {
    guard("wal_open_torn_tail_path", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(path, "path")?;
        let p = h.tail_path.as_ref().ok_or_else(no_tail)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(path, p.as_ptr()) };
        Ok(())
    })
}

fn no_tail() -> Error {
    Error::NothingToReport("the open found no torn tail (or, for its path, did not cut one)")
}
