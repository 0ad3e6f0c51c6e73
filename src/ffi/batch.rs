//! Mixed write batches from C: stores, deletes and range deletes written as
//! one unit, and the range delete on its own.

use super::boundary::{arg_bytes, guard};
use super::changes::with_seq;
use super::handle::{handle, wal_t};
use super::status::wal_status;
use crate::error::{Error, Result};
use crate::store::BatchOp;

/// What one `wal_write_op` does (its `op` field).
#[allow(non_camel_case_types)]
#[repr(i32)]
pub enum wal_write_op_kind {
    /// Store `data`/`len` under `id`.
    WAL_OP_STORE = 1,
    /// Delete `id`; an id that is not in the store is no error here.
    WAL_OP_DELETE = 2,
    /// Delete every id from `id` to `id_hi`, both included, as one record.
    WAL_OP_DELETE_RANGE = 3,
}

/// One operation of a batch for `wal_write_batch`. `op` is a
/// `wal_write_op_kind` value. `id_hi` is read only for
/// WAL_OP_DELETE_RANGE, and `data`/`len` only for WAL_OP_STORE (`data` may
/// be NULL when `len` is 0).
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct wal_write_op {
    pub op: i32,
    pub id: u64,
    pub id_hi: u64,
    pub data: *const u8,
    pub len: usize,
}

/// Writes `count` operations (stores, deletes, range deletes, in any mix)
/// with one write and one flush or fsync. After a crash, either every
/// operation is there or none is. Operations apply in order: a later one
/// for the same id wins. `count == 0` is a no-op returning WAL_OK (and
/// `ops` may then be NULL), except on a read-only handle. An invalid
/// operation (an unknown `op`, NULL data with a non-zero length, a payload
/// over the limit, a range with `id > id_hi`) rejects the whole batch
/// before anything is written.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT; WAL_IO or WAL_NO_SPACE (nothing of
/// the batch is acknowledged); WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle; a non-NULL `ops` points to `count`
/// operations whose non-NULL `data` point to `len` bytes each.
#[no_mangle]
pub unsafe extern "C" fn wal_write_batch(
    w: *mut wal_t,
    ops: *const wal_write_op,
    count: usize,
) -> wal_status {
    // SAFETY: the caller's contract is write_many's.
    guard("wal_write_batch", || {
        unsafe { write_many(w, ops, count) }.map(drop)
    })
}

/// `wal_write_batch`, and on WAL_OK sets `*seq` to the sequence number of
/// the batch's last record (0 for an empty batch), as
/// `wal_store_batch_seq` does. Returns what `wal_write_batch` returns, and
/// WAL_INVALID_ARGUMENT for NULL `seq` (nothing is written then).
///
/// # Safety
/// As `wal_write_batch`; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_write_batch_seq(
    w: *mut wal_t,
    ops: *const wal_write_op,
    count: usize,
    seq: *mut u64,
) -> wal_status {
    // SAFETY: the caller's contract is write_many's.
    with_seq("wal_write_batch_seq", seq, || unsafe {
        write_many(w, ops, count)
    })
}

/// Deletes every id from `lo` to `hi`, both included, with one record (so
/// its cost does not depend on how many ids the range holds). Ids in the
/// range that are not in the store are no error.
///
/// Returns WAL_OK; WAL_INVALID_ARGUMENT (NULL `w`, `lo > hi`, a read-only
/// handle); WAL_IO or WAL_NO_SPACE; WAL_POISONED.
///
/// # Safety
/// `w` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn wal_delete_range(w: *mut wal_t, lo: u64, hi: u64) -> wal_status {
    guard("wal_delete_range", || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.delete_range(lo, hi).map(drop)
    })
}

/// `wal_delete_range`, and on WAL_OK sets `*seq` to the record's sequence
/// number. Returns what `wal_delete_range` returns, and
/// WAL_INVALID_ARGUMENT for NULL `seq`.
///
/// # Safety
/// As `wal_delete_range`; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_delete_range_seq(
    w: *mut wal_t,
    lo: u64,
    hi: u64,
    seq: *mut u64,
) -> wal_status {
    with_seq("wal_delete_range_seq", seq, || {
        // SAFETY: live handle by contract.
        unsafe { handle(w) }?.store.delete_range(lo, hi)
    })
}

/// The body of `wal_write_batch` and `wal_write_batch_seq`.
///
/// # Safety
/// As `wal_write_batch`.
unsafe fn write_many(w: *mut wal_t, ops: *const wal_write_op, count: usize) -> Result<u64> {
    // SAFETY: live handle by contract.
    let h = unsafe { handle(w) }?;
    if count == 0 {
        // Still through the store, so a read-only handle refuses it.
        return h.store.write_ops(&[]);
    }
    if ops.is_null() {
        return Err(Error::InvalidArgument(format!(
            "ops is NULL but count is {count}"
        )));
    }
    // SAFETY: non-NULL and holding count operations by contract.
    let ops = unsafe { std::slice::from_raw_parts(ops, count) };
    let mut batch = Vec::with_capacity(count);
    for (i, op) in ops.iter().enumerate() {
        batch.push(match op.op {
            1 => {
                h.store.check_payload(op.id, op.len)?;
                // SAFETY: by contract; len is within the payload limit.
                let data = unsafe { arg_bytes(op.data, op.len, &format!("ops[{i}].data")) }?;
                BatchOp::Store { id: op.id, data }
            }
            2 => BatchOp::Delete { id: op.id },
            3 => BatchOp::DeleteRange {
                lo: op.id,
                hi: op.id_hi,
            },
            other => {
                return Err(Error::InvalidArgument(format!(
                    "ops[{i}].op is {other}, which is not a wal_write_op_kind"
                )))
            }
        });
    }
    h.store.write_ops(&batch)
}
