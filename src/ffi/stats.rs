//! Stats getters: one function per figure, so that new figures are new
//! functions and no struct ever changes size.

use super::boundary::{check_out, guard, write_out};
use super::handle::{getter, handle, wal_t};
use super::status::wal_status;

/// Sets `*out` to the number of live ids (damaged ones included). Returns
/// WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_live_ids(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_live_ids", w, out, |s| Ok(s.stats().live_ids))
}

/// Sets `*out` to the sum of the live ids' payload lengths. Returns WAL_OK,
/// or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_live_bytes(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_live_bytes", w, out, |s| Ok(s.stats().live_bytes))
}

/// Sets `*out` to the log's length in bytes (the log position). Returns
/// WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_log_bytes(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_log_bytes", w, out, |s| Ok(s.stats().log_bytes))
}

/// Sets `*out` to the record bytes in the log that no longer serve a live
/// id: overwritten payloads, tombstones and batch framing, with their
/// headers. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_dead_bytes(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_dead_bytes", w, out, |s| Ok(s.stats().dead_bytes))
}

/// Sets `*out` to the dead-byte ratio: dead bytes over all record bytes, in
/// [0, 1] (0 for an empty log). Returns WAL_OK, or WAL_INVALID_ARGUMENT for
/// NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_dead_ratio(w: *const wal_t, out: *mut f64) -> wal_status {
    guard("wal_stat_dead_ratio", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, h.store.stats().dead_ratio) };
        Ok(())
    })
}

/// Sets `*out` to the number of automatic snapshots completed since the
/// open. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_auto_snapshots(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_stat_auto_snapshots", w, out, |s| {
        Ok(s.stats().auto_snapshots)
    })
}

/// Sets `*out` to the number of automatic snapshots that failed since the
/// open. A failed automatic snapshot never fails the write that triggered
/// it; the next write past the threshold tries again. (A failed fdatasync of
/// the log during one poisons the handle, as any failed fdatasync does.)
/// Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_stat_auto_snapshot_failures(
    w: *const wal_t,
    out: *mut u64,
) -> wal_status {
    getter("wal_stat_auto_snapshot_failures", w, out, |s| {
        Ok(s.stats().auto_snapshot_failures)
    })
}

/// Sets `*out` to how long the open took, in microseconds. Returns WAL_OK,
/// or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_open_duration_us(w: *const wal_t, out: *mut u64) -> wal_status {
    getter("wal_open_duration_us", w, out, |s| {
        Ok(s.open_report().duration.as_micros() as u64)
    })
}
