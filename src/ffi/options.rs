//! `wal_options`: an opaque, heap-allocated set of open options.

use super::boundary::{guard, guard_value, null_arg};
use super::status::wal_status;
use crate::error::{Error, Result};
use crate::store::{Durability, Options, RecoveryMode};

/// Open options. Create with `wal_options_new()`, free with
/// `wal_options_free()`. `wal_open` copies what it needs, so the options may
/// be freed (or reused) as soon as it returns.
#[allow(non_camel_case_types)]
pub struct wal_options {
    pub(crate) inner: Options,
}

/// Durability levels for `wal_options_set_durability`.
#[allow(non_camel_case_types)]
#[repr(i32)]
pub enum wal_durability {
    /// The default. A write returns after fdatasync: it survives power loss.
    WAL_DURABILITY_FSYNC = 0,
    /// A write returns once `write` handed it to the OS: it survives a crash
    /// of the process, not of the machine (LevelDB's and RocksDB's
    /// `sync=false`).
    WAL_DURABILITY_FLUSH = 1,
    /// A write may sit in a buffer in the process until the buffer fills,
    /// `wal_sync` or `wal_close`. A crash of the process may lose it, never
    /// half of it. Reads see buffered writes. A failed flush of the buffer
    /// poisons the handle.
    WAL_DURABILITY_NONE = 2,
}

/// Recovery modes for `wal_options_set_recovery_mode`: what `wal_open` does
/// when replay finds damage.
#[allow(non_camel_case_types)]
#[repr(i32)]
pub enum wal_recovery_mode {
    /// The default. A torn tail (damage with no valid record after it) is
    /// saved to a side file and cut. Damage followed by valid records fails
    /// the open with WAL_CORRUPTION.
    WAL_RECOVERY_STRICT = 0,
    /// Like STRICT, but a damaged record whose header is intact does not
    /// fail the open: its id reads back as WAL_CORRUPTION (never as an older
    /// version, and a damaged delete does not bring the payload back).
    /// Damage whose id cannot be trusted still fails the open.
    WAL_RECOVERY_SALVAGE = 1,
    /// No record is ever cut: a torn tail fails the open with
    /// WAL_CORRUPTION too. (A log that never got its complete header, being
    /// empty, a prefix of a header or at most 64 bytes of zeros, holds no record; it is
    /// started afresh in every mode.)
    WAL_RECOVERY_ABSOLUTE = 2,
}

/// Runs `f` on the options behind `opts`.
fn with_opts(
    name: &str,
    opts: *mut wal_options,
    f: impl FnOnce(&mut Options) -> Result<()>,
) -> wal_status {
    guard(name, || {
        // SAFETY: a non-NULL opts was returned by wal_options_new and not yet
        // freed; the caller does not use it from another thread meanwhile.
        let o = unsafe { opts.as_mut() }.ok_or_else(|| null_arg("opts"))?;
        f(&mut o.inner)
    })
}

/// A new set of options holding the defaults: FSYNC durability, STRICT
/// recovery, 64 MiB largest payload, read-write, 64 MiB snapshot threshold
/// with automatic snapshots on, 256 KiB write buffer (for NONE).
/// Free it with `wal_options_free`. Returns NULL only if walstore panicked.
#[no_mangle]
pub extern "C" fn wal_options_new() -> *mut wal_options {
    guard_value("wal_options_new", std::ptr::null_mut(), || {
        Box::into_raw(Box::new(wal_options {
            inner: Options::default(),
        }))
    })
}

/// Frees options made by `wal_options_new`. NULL is a no-op.
///
/// # Safety
/// `opts` is NULL or an unfreed pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_free(opts: *mut wal_options) {
    guard_value("wal_options_free", (), || {
        if !opts.is_null() {
            // SAFETY: the pointer came from Box::into_raw in wal_options_new
            // and the caller gives up ownership here.
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}

/// Sets the durability level: one of the `WAL_DURABILITY_*` values.
/// Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `opts` or an unknown
/// level (the options are then unchanged).
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_durability(
    opts: *mut wal_options,
    level: i32,
) -> wal_status {
    with_opts("wal_options_set_durability", opts, |o| {
        o.set_durability(match level {
            0 => Durability::Fsync,
            1 => Durability::Flush,
            2 => Durability::None,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown durability level {level}"
                )))
            }
        });
        Ok(())
    })
}

/// Sets the recovery mode: one of the `WAL_RECOVERY_*` values. Returns
/// WAL_OK, or WAL_INVALID_ARGUMENT for NULL `opts` or an unknown mode.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_recovery_mode(
    opts: *mut wal_options,
    mode: i32,
) -> wal_status {
    with_opts("wal_options_set_recovery_mode", opts, |o| {
        o.set_recovery(match mode {
            0 => RecoveryMode::Strict,
            1 => RecoveryMode::Salvage,
            2 => RecoveryMode::Absolute,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown recovery mode {mode}"
                )))
            }
        });
        Ok(())
    })
}

/// Sets the largest payload a write accepts, from 1 byte to 4 GiB - 1
/// (default 64 MiB). A larger payload gets WAL_INVALID_ARGUMENT and writes
/// nothing. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `opts` or a
/// value out of range.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_max_payload(
    opts: *mut wal_options,
    bytes: usize,
) -> wal_status {
    with_opts("wal_options_set_max_payload", opts, |o| {
        o.set_max_payload(bytes).map(drop)
    })
}

/// Opens read-only: a shared lock that coexists with other read-only opens
/// (and gets WAL_LOCKED while a writer holds the store), no tail cut,
/// nothing written. Write calls return WAL_INVALID_ARGUMENT. Returns WAL_OK,
/// or WAL_INVALID_ARGUMENT for NULL `opts`.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_read_only(
    opts: *mut wal_options,
    read_only: bool,
) -> wal_status {
    with_opts("wal_options_set_read_only", opts, |o| {
        o.set_read_only(read_only);
        Ok(())
    })
}

/// Sets how many bytes the log may grow after the newest snapshot before
/// `wal_should_snapshot` returns true and an automatic snapshot starts
/// (default 64 MiB); 0 makes it always false and turns automatic snapshots
/// off. A snapshot is also not due before the log after the newest one
/// holds at least a quarter as many records as that snapshot has entries,
/// or has grown by 16 times that snapshot's size (about 20 bytes per
/// entry), so that a large index is not rewritten for every threshold's
/// worth of log. Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `opts`.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_snapshot_threshold(
    opts: *mut wal_options,
    bytes: u64,
) -> wal_status {
    with_opts("wal_options_set_snapshot_threshold", opts, |o| {
        o.set_snapshot_threshold(bytes);
        Ok(())
    })
}

/// Sets when a compaction starts by itself, in the background: when a
/// write leaves the log at least `min_log_bytes` long with at least
/// `dead_ratio` of its record bytes dead (overwritten payloads, deleted
/// ids, tombstones). The defaults are 0.5 and 64 MiB. `dead_ratio` 0 turns
/// automatic compaction off. A failed automatic compaction never fails the
/// write that started it; see `wal_stat_auto_compaction_failures`.
/// Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `opts` or a ratio
/// outside [0, 1) (the options are then unchanged).
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_auto_compact(
    opts: *mut wal_options,
    dead_ratio: f64,
    min_log_bytes: u64,
) -> wal_status {
    with_opts("wal_options_set_auto_compact", opts, |o| {
        o.set_auto_compact(dead_ratio, min_log_bytes).map(drop)
    })
}

/// Turns automatic snapshots on (the default) or off. On, the write that
/// makes `wal_should_snapshot` true starts a snapshot in the background
/// (writers do not wait for it: the index is copied shard by shard while
/// they go on; a failure is counted by
/// `wal_stat_auto_snapshot_failures` and never fails the write). Off, the
/// caller schedules `wal_snapshot` itself. Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `opts`.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_auto_snapshot(
    opts: *mut wal_options,
    on: bool,
) -> wal_status {
    with_opts("wal_options_set_auto_snapshot", opts, |o| {
        o.set_auto_snapshot(on);
        Ok(())
    })
}

/// Sets the size of the in-process buffer used by WAL_DURABILITY_NONE, from
/// 1 byte to 1 GiB (default 256 KiB). Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `opts` or a value out of range.
///
/// # Safety
/// `opts` is NULL or a live pointer from `wal_options_new`.
#[no_mangle]
pub unsafe extern "C" fn wal_options_set_write_buffer(
    opts: *mut wal_options,
    bytes: usize,
) -> wal_status {
    with_opts("wal_options_set_write_buffer", opts, |o| {
        o.set_write_buffer(bytes).map(drop)
    })
}
