//! The one boundary every exported function goes through: argument checks,
//! a panic catcher (no unwinding into C), status mapping, and the
//! thread-local last-error message.

use super::status::wal_status;
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(msg: String) {
    let c = CString::new(msg.replace('\0', "?")).expect("NULs were replaced");
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Runs the body of a status-returning function. `name` prefixes the
/// message so a C caller sees which call failed.
pub(crate) fn guard(name: &str, body: impl FnOnce() -> Result<()>) -> wal_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => wal_status::WAL_OK,
        Ok(Err(e)) => {
            set_last_error(format!("{name}: {e}"));
            e.kind().into()
        }
        Err(p) => {
            set_last_error(format!(
                "{name}: panic inside walstore: {}",
                panic_message(&*p)
            ));
            wal_status::WAL_PANIC
        }
    }
}

/// Runs the body of a function that returns a plain value (a pointer, a
/// bool): a panic yields `fallback`.
pub(crate) fn guard_value<T>(name: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| {
        set_last_error(format!(
            "{name}: panic inside walstore: {}",
            panic_message(&*p)
        ));
        fallback
    })
}

pub(crate) fn null_arg(name: &str) -> Error {
    Error::InvalidArgument(format!("{name} is NULL"))
}

/// Borrows `*p`, or fails with `WAL_INVALID_ARGUMENT` naming the argument.
///
/// # Safety
/// A non-NULL `p` must point to a live, properly aligned `T` that no one
/// mutates for `'a` (the C caller's side of the API contract).
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: the caller upholds this function's contract for non-NULL p;
    // as_ref turns NULL into None.
    unsafe { p.as_ref() }.ok_or_else(|| null_arg(name))
}

/// Writes `v` through an out-pointer already checked to be non-NULL.
///
/// # Safety
/// `p` must be non-NULL, aligned and valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: guaranteed by this function's contract.
    unsafe { p.write(v) }
}

/// Checks that each out-pointer is non-NULL before anything is done, so a
/// call never half-succeeds.
pub(crate) fn check_out<T>(p: *mut T, name: &str) -> Result<()> {
    if p.is_null() {
        Err(null_arg(name))
    } else {
        Ok(())
    }
}

/// A byte slice from a C pointer and length: NULL is allowed when `len` is
/// 0.
///
/// # Safety
/// A non-NULL `data` must point to `len` readable bytes that stay unchanged
/// for `'a`, and `len` must be at most `isize::MAX`.
pub(crate) unsafe fn arg_bytes<'a>(data: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::InvalidArgument(format!(
            "{name} is NULL but its length is {len}"
        )));
    }
    // SAFETY: non-NULL, and the caller vouches for len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: the pointer comes from this thread's live CString.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_wal_panic_with_a_message() {
        let s = guard("wal_test", || panic!("boom {}", 7));
        assert_eq!(s, wal_status::WAL_PANIC);
        assert_eq!(last(), "wal_test: panic inside walstore: boom 7");
        assert!(!guard_value("wal_test", false, || panic!("again")));
        assert_eq!(last(), "wal_test: panic inside walstore: again");
    }

    #[test]
    fn errors_set_the_message_and_success_leaves_it() {
        let s = guard("wal_x", || Err(Error::NotFound { id: 3 }));
        assert_eq!(s, wal_status::WAL_NOT_FOUND);
        assert_eq!(last(), "wal_x: id 3 not found");
        assert_eq!(guard("wal_y", || Ok(())), wal_status::WAL_OK);
        assert_eq!(last(), "wal_x: id 3 not found");
    }

    #[test]
    fn null_bytes_only_with_zero_length() {
        // SAFETY: NULL with len 0 is allowed and reads nothing.
        assert_eq!(
            unsafe { arg_bytes(std::ptr::null(), 0, "data") }.unwrap(),
            b""
        );
        // SAFETY: NULL with a length is rejected before any read.
        let e = unsafe { arg_bytes(std::ptr::null(), 5, "data") }.unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: data is NULL but its length is 5"
        );
    }
}
