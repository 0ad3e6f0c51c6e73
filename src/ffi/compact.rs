//! Compaction from C, and the figures that go with it.

use super::boundary::{check_out, guard, write_out};
use super::handle::{getter, handle, wal_t};
use super::status::wal_status;
use crate::error::Error;

/// Rewrites the live records into a new log generation and switches to it
/// with one rename, reclaiming the space of overwritten and deleted
/// payloads. Readers go on throughout, from any thread; writers wait only
/// while the index is copied and for the final switch (records written
/// meanwhile are carried over). A crash at any point leaves the old
/// generation or the new one, whole; the next open removes the other.
/// Ids a SALVAGE open found damaged stay damaged. Change cursors can then
/// start only above the last sequence number written before the
/// compaction (`wal_changes_open` gives WAL_COMPACTED below it).
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w`, a read-only handle);
/// WAL_CORRUPTION (a live record fails its check: nothing changes, the
/// damaged id still reads as corrupt); WAL_IO or WAL_NO_SPACE (the store
/// goes on with its old log, except after a failed fsync of the directory
/// following the rename, which poisons the handle); WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_compact(w: *mut wal_t) -> wal_status {
    guard("wal_compact", || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.compact().map(drop)
    })
}

/// Sets `*out` to the current log generation: 1 for a new store, one more
/// after each compaction. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL
/// `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_generation(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_generation", w, out, |s| Ok(s.stats().generation))
}

/// Sets `*out` to the number of automatic compactions completed since the
/// open. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_auto_compactions(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_auto_compactions", w, out, |s| {
        Ok(s.stats().auto_compactions)
    })
}

/// Sets `*out` to the number of automatic compactions that failed since the
/// open. A failed automatic compaction never fails the write that started
/// it. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_auto_compaction_failures(
    w: *const wal_t,
    out: *mut u64,
) -> wal_status {
    getter("wal_stat_auto_compaction_failures", w, out, |s| {
        Ok(s.stats().auto_compaction_failures)
    })
}

/// Copies the message of the last failed automatic snapshot into `buf`
/// (capacity `cap`, NUL-terminated) and sets `*out_len` to its length
/// without the NUL. If `cap` is too small (it must hold the NUL too),
/// returns WAL_BUFFER_TOO_SMALL and sets `*out_len` to the length needed,
/// NUL excluded; `buf` may be NULL when `cap` is 0.
///
/// Returns WAL_OK; WAL_NOT_FOUND (no automatic snapshot has failed since
/// the open); WAL_BUFFER_TOO_SMALL; WAL_INVALID_ARGUMENT (NULL `w` or
/// `out_len`, NULL `buf` with `cap` > 0).
///
/// # Safety
/// `w` is NULL or a live handle; a non-NULL `buf` has `cap` writable bytes;
/// `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_last_auto_snapshot_error(
    w: *const wal_t,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> wal_status {
    // SAFETY: the caller's contract is copy_message's.
    unsafe {
        copy_message(
            "wal_stat_last_auto_snapshot_error",
            w,
            buf,
            cap,
            out_len,
            |s| s.stats().last_auto_snapshot_error,
        )
    }
}

/// As `wal_stat_last_auto_snapshot_error`, for the last failed automatic
/// compaction.
///
/// # Safety
/// As `wal_stat_last_auto_snapshot_error`.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_last_auto_compaction_error(
    w: *const wal_t,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> wal_status {
    // SAFETY: the caller's contract is copy_message's.
    unsafe {
        copy_message(
            "wal_stat_last_auto_compaction_error",
            w,
            buf,
            cap,
            out_len,
            |s| s.stats().last_auto_compaction_error,
        )
    }
}

/// The body of the message getters.
///
/// # Safety
/// As `wal_stat_last_auto_snapshot_error`.
unsafe fn copy_message(
    name: &str,
    w: *const wal_t,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    message: impl FnOnce(&crate::Store) -> Option<String>,
) -> wal_status {
    guard(name, || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out_len, "out_len")?;
        if buf.is_null() && cap > 0 {
            return Err(Error::InvalidArgument(format!(
                "buf is NULL but cap is {cap}"
            )));
        }
        let Some(msg) = message(&h.store) else {
            return Err(Error::NothingToReport("no such failure since the open"));
        };
        let msg = msg.replace('\0', "?");
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_len, msg.len()) };
        if cap <= msg.len() {
            return Err(Error::MessageTooLong {
                what: "message",
                needed: msg.len() + 1,
                capacity: cap,
            });
        }
        // SAFETY: buf is non-NULL (cap > 0) with cap > msg.len() writable
        // bytes, by contract.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), buf, msg.len());
            *buf.add(msg.len()) = 0;
        }
        Ok(())
    })
}
