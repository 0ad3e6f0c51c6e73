//! Log-order reading from C: write calls that return the sequence number,
//! and `wal_changes_t`, a cursor over the records from a sequence number.

use super::boundary::{check_out, guard, guard_value, null_arg, write_out};
use super::handle::{handle, store_many, store_one, wal_entry, wal_t};
use super::status::wal_status;
use crate::error::Result;
use crate::store::{Change, ChangeCursor};

/// Kinds of record a change cursor returns.
#[allow(non_camel_case_types)]
#[repr(i32)]
pub enum wal_change_kind {
    /// A store: `id` and its payload.
    WAL_CHANGE_STORE = 1,
    /// A delete of `id`.
    WAL_CHANGE_DELETE = 2,
    /// The next `id` records (here `id` is the count) form one batch, up
    /// to the matching WAL_CHANGE_BATCH_COMMIT.
    WAL_CHANGE_BATCH_BEGIN = 3,
    /// The end of a batch of `id` records.
    WAL_CHANGE_BATCH_COMMIT = 4,
    /// A delete of every id from `id` to the range's high end, both
    /// included; the payload is the high end, 8 bytes little-endian.
    WAL_CHANGE_DELETE_RANGE = 5,
}

/// Runs a write body and writes its sequence number to `*seq` on success.
pub(super) fn with_seq(
    name: &str,
    seq: *mut u64,
    body: impl FnOnce() -> Result<u64>,
) -> wal_status {
    guard(name, || {
        check_out(seq, "seq")?;
        let s = body()?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(seq, s) };
        Ok(())
    })
}

/// `wal_store`, and on WAL_OK sets `*seq` to the sequence number of the
/// record written. Sequence numbers increase across the store's whole life
/// and survive reopening. Returns what `wal_store` returns, and
/// WAL_INVALID_ARGUMENT for NULL `seq` (nothing is written then).
///
/// # Safety
/// As `wal_store`; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_store_seq(
    w: *mut wal_t,
    id: u64,
    data: *const u8,
    len: usize,
    seq: *mut u64,
) -> wal_status {
    // SAFETY: the caller's contract is store_one's.
    with_seq("wal_store_seq", seq, || unsafe {
        store_one(w, id, data, len)
    })
}

/// `wal_store_batch`, and on WAL_OK sets `*seq` to the sequence number of
/// the batch's last record (its commit record, or the one store record of a
/// batch of one), so a change cursor from `*seq + 1` starts after the batch.
/// An empty batch sets 0. Returns what `wal_store_batch` returns, and
/// WAL_INVALID_ARGUMENT for NULL `seq`.
///
/// # Safety
/// As `wal_store_batch`; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_store_batch_seq(
    w: *mut wal_t,
    entries: *const wal_entry,
    count: usize,
    seq: *mut u64,
) -> wal_status {
    // SAFETY: the caller's contract is store_many's.
    with_seq("wal_store_batch_seq", seq, || unsafe {
        store_many(w, entries, count)
    })
}

/// `wal_delete`, and on WAL_OK sets `*seq` to the tombstone's sequence
/// number. Returns what `wal_delete` returns, and WAL_INVALID_ARGUMENT for
/// NULL `seq`.
///
/// # Safety
/// As `wal_delete`; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_delete_seq(w: *mut wal_t, id: u64, seq: *mut u64) -> wal_status {
    with_seq("wal_delete_seq", seq, || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.delete_seq(id)
    })
}

/// A cursor over the log's records in the order they were written. Create
/// with `wal_changes_open`, free with `wal_changes_free` (before
/// `wal_close`). One thread at a time.
#[allow(non_camel_case_types)]
pub struct wal_changes_t {
    store: *const wal_t,
    cursor: ChangeCursor,
    payload: Vec<u8>,
}

/// Opens a cursor over the records acknowledged so far, starting at the
/// first whose sequence number is at least `from_seq` (0 or 1 for all).
/// Records written later are not included: open a new cursor from the next
/// sequence number to continue. Finding the start reads the headers of the
/// records before it. On WAL_OK, `*out` holds the cursor, owned by the
/// caller until `wal_changes_free`.
///
/// Under WAL_DURABILITY_NONE it first hands the write buffer to the OS, as
/// `wal_sync` does (a failure there poisons the handle).
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w` or `out`); WAL_COMPACTED
/// (`from_seq` is at or below the last sequence number a compaction folded
/// away; the message names the first one available: copy the store with
/// `wal_iter_open`, then follow from `wal_iter_seq` + 1); WAL_CORRUPTION (a
/// damaged header before the start); WAL_IO or WAL_NO_SPACE; WAL_POISONED.
/// A cursor opened before a compaction reads on after it.
///
/// # Safety
/// `w` is NULL or a live handle that outlives the cursor; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn wal_changes_open(
    w: *mut wal_t,
    from_seq: u64,
    out: *mut *mut wal_changes_t,
) -> wal_status {
    guard("wal_changes_open", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        let c = Box::new(wal_changes_t {
            store: w,
            cursor: h.store.changes_from(from_seq)?,
            payload: Vec::new(),
        });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(c)) };
        Ok(())
    })
}

/// Moves to the next record. On WAL_OK, `*has_change` says whether there
/// was one; if so, `*kind` is a `WAL_CHANGE_*` value, `*seq` its sequence
/// number, `*id` the id (for batch records: the batch's entry count; for a
/// range delete: its low end), and `*data`/`*len` the payload of a store or
/// the 8-byte high end of a range delete (an empty, non-NULL buffer
/// otherwise), valid until the next call on this cursor or
/// `wal_changes_free`. Every record is CRC-checked: a damaged one gives
/// WAL_CORRUPTION and ends the cursor (lengths past it cannot be trusted).
///
/// Returns WAL_OK; WAL_CORRUPTION; WAL_IO; WAL_INVALID_ARGUMENT for a NULL
/// argument.
///
/// # Safety
/// `c` is NULL or a live cursor whose store is still open; the outputs are
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_changes_next(
    c: *mut wal_changes_t,
    has_change: *mut bool,
    kind: *mut i32,
    seq: *mut u64,
    id: *mut u64,
    data: *mut *const u8,
    len: *mut usize,
) -> wal_status {
    guard("wal_changes_next", || {
        // SAFETY: a non-NULL c came from wal_changes_open and is used by one
        // thread at a time, by contract.
        let c = unsafe { c.as_mut() }.ok_or_else(|| null_arg("c"))?;
        check_out(has_change, "has_change")?;
        check_out(kind, "kind")?;
        check_out(seq, "seq")?;
        check_out(id, "id")?;
        check_out(data, "data")?;
        check_out(len, "len")?;
        // SAFETY: the store outlives its cursors, by contract.
        let h = unsafe { handle(c.store) }?;
        let Some(change) = h.store.next_change(&mut c.cursor) else {
            // SAFETY: checked non-NULL above.
            unsafe { write_out(has_change, false) };
            return Ok(());
        };
        let (k, s, i) = match change? {
            Change::Store {
                seq: s,
                id: i,
                payload,
            } => {
                c.payload = payload;
                (wal_change_kind::WAL_CHANGE_STORE, s, i)
            }
            Change::Delete { seq: s, id: i } => {
                c.payload.clear();
                (wal_change_kind::WAL_CHANGE_DELETE, s, i)
            }
            Change::DeleteRange { seq: s, lo, hi } => {
                c.payload.clear();
                c.payload.extend_from_slice(&hi.to_le_bytes());
                (wal_change_kind::WAL_CHANGE_DELETE_RANGE, s, lo)
            }
            Change::BatchBegin { seq: s, count } => {
                c.payload.clear();
                (wal_change_kind::WAL_CHANGE_BATCH_BEGIN, s, count)
            }
            Change::BatchCommit { seq: s, count } => {
                c.payload.clear();
                (wal_change_kind::WAL_CHANGE_BATCH_COMMIT, s, count)
            }
        };
        // SAFETY: all checked non-NULL above.
        unsafe {
            write_out(has_change, true);
            write_out(kind, k as i32);
            write_out(seq, s);
            write_out(id, i);
            write_out(data, c.payload.as_ptr());
            write_out(len, c.payload.len());
        }
        Ok(())
    })
}

/// Frees a change cursor. NULL is a no-op.
///
/// # Safety
/// `c` is NULL or an unfreed pointer from `wal_changes_open`.
#[no_mangle]
pub unsafe extern "C" fn wal_changes_free(c: *mut wal_changes_t) {
    guard_value("wal_changes_free", (), || {
        if !c.is_null() {
            // SAFETY: from Box::into_raw in wal_changes_open; ownership ends
            // here.
            drop(unsafe { Box::from_raw(c) });
        }
    })
}
