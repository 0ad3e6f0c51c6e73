//! `wal_iter_t`: a cursor over the live entries at one point in time.

use super::boundary::{check_out, guard, guard_value, null_arg, write_out};
use super::handle::{handle, wal_t};
use super::status::wal_status;
use crate::store::Cursor;

/// A cursor over the live entries of a store at the moment
/// `wal_iter_open` was called, in id order. Create with `wal_iter_open`,
/// free with `wal_iter_free`, which must come before `wal_close` of its
/// store. One cursor is for one thread at a time; several cursors may run
/// at once, beside readers and writers.
#[allow(non_camel_case_types)]
pub struct wal_iter_t {
    store: *const wal_t,
    cursor: Cursor,
    buf: Vec<u8>,
}

/// Opens a cursor over the live entries of `w` as they are now: later
/// writes do not show, and entries deleted or overwritten later still read
/// as they were. Writers wait only while the index is copied. On WAL_OK,
/// `*out` holds the cursor, owned by the caller until `wal_iter_free`.
///
/// Returns WAL_OK, or WAL_INVALID_ARGUMENT for NULL `w` or `out`.
///
/// # Safety
/// `w` is NULL or a live handle that outlives the cursor; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn wal_iter_open(w: *mut wal_t, out: *mut *mut wal_iter_t) -> wal_status {
    guard("wal_iter_open", || {
        // SAFETY: live handle by contract.
        let h = unsafe { handle(w) }?;
        check_out(out, "out")?;
        let it = Box::new(wal_iter_t {
            store: w,
            cursor: h.store.cursor(),
            buf: Vec::new(),
        });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(it)) };
        Ok(())
    })
}

/// Moves to the next entry. On WAL_OK, `*has_entry` says whether there was
/// one; if so, `*id`, `*data` and `*len` describe it. `*data` points into
/// the cursor and stays valid until the next call on this cursor or
/// `wal_iter_free`; it is never NULL (a zero-length payload points to an
/// empty buffer). Each payload is CRC-checked as it is read: a damaged one
/// gives WAL_CORRUPTION (the message names the id and offset; the outputs
/// are not written), and the next call moves on.
///
/// Returns WAL_OK; WAL_CORRUPTION; WAL_IO; WAL_INVALID_ARGUMENT for a NULL
/// argument.
///
/// # Safety
/// `it` is NULL or a live cursor whose store is still open; the outputs are
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_iter_next(
    it: *mut wal_iter_t,
    has_entry: *mut bool,
    id: *mut u64,
    data: *mut *const u8,
    len: *mut usize,
) -> wal_status {
    guard("wal_iter_next", || {
        // SAFETY: a non-NULL it came from wal_iter_open and is used by one
        // thread at a time, by contract.
        let it = unsafe { it.as_mut() }.ok_or_else(|| null_arg("it"))?;
        check_out(has_entry, "has_entry")?;
        check_out(id, "id")?;
        check_out(data, "data")?;
        check_out(len, "len")?;
        // SAFETY: the store outlives its cursors, by contract.
        let h = unsafe { handle(it.store) }?;
        match it.cursor.next_into(&h.store, &mut it.buf) {
            None => {
                // SAFETY: checked non-NULL above.
                unsafe { write_out(has_entry, false) };
                Ok(())
            }
            Some(Err(e)) => Err(e),
            Some(Ok(got)) => {
                // SAFETY: all four checked non-NULL above.
                unsafe {
                    write_out(has_entry, true);
                    write_out(id, got);
                    write_out(data, it.buf.as_ptr());
                    write_out(len, it.buf.len());
                }
                Ok(())
            }
        }
    })
}

/// Sets `*seq` to the sequence number of the last write the cursor's
/// entries reflect (0 for none): a replica that copies them follows the
/// store with `wal_changes_open(w, *seq + 1, ...)`. Returns WAL_OK, or
/// WAL_INVALID_ARGUMENT for NULL `it` or `seq`.
///
/// # Safety
/// `it` is NULL or a live cursor; `seq` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wal_iter_seq(it: *const wal_iter_t, seq: *mut u64) -> wal_status {
    guard("wal_iter_seq", || {
        // SAFETY: a non-NULL it came from wal_iter_open, by contract.
        let it = unsafe { it.as_ref() }.ok_or_else(|| null_arg("it"))?;
        check_out(seq, "seq")?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(seq, it.cursor.seq()) };
        Ok(())
    })
}

/// Frees a cursor. NULL is a no-op.
///
/// # Safety
/// `it` is NULL or an unfreed pointer from `wal_iter_open`.
#[no_mangle]
pub unsafe extern "C" fn wal_iter_free(it: *mut wal_iter_t) {
    guard_value("wal_iter_free", (), || {
        if !it.is_null() {
            // SAFETY: from Box::into_raw in wal_iter_open; ownership ends here.
            drop(unsafe { Box::from_raw(it) });
        }
    })
}
