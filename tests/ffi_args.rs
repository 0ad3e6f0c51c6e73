//! The C ABI's argument checks, called from Rust: every NULL where NULL is
//! not allowed gives WAL_INVALID_ARGUMENT with a message naming the function
//! and the argument, and leaves every out-parameter unwritten; the NULLs
//! that are allowed are no-ops; status strings and the last-error message
//! behave as `include/walstore.h` documents.

use std::ffi::{c_char, c_int, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut, NonNull};

use walstore::ffi::*;

use wal_status::*;
mod common;
use common::tmp;

const SENTINEL: u64 = 0xDEAD_BEEF_CAFE_F00D;
const SENTINEL_LEN: usize = 0x5EED_5EED;

fn cpath(p: &Path) -> CString {
    CString::new(p.to_str().unwrap()).unwrap()
}

fn log_of(dir: &Path) -> PathBuf {
    dir.join("wal-0000000000000001.log")
}

fn log_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(log_of(dir)).unwrap()
}

fn last_error() -> String {
    let p = wal_last_error();
    assert!(!p.is_null(), "wal_last_error() returned NULL");
    // SAFETY: non-NULL, NUL-terminated, and valid until the next walstore
    // call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

/// A sentinel handle pointer: never dereferenced, only compared.
fn sentinel_handle() -> *mut wal_t {
    NonNull::<wal_t>::dangling().as_ptr()
}

/// An open store in `dir`, with `opts` (NULL for the defaults).
fn open_with(dir: &Path, opts: *const wal_options) -> *mut wal_t {
    let d = cpath(dir);
    let mut w = null_mut();
    // SAFETY: d is NUL-terminated; opts is NULL or live; w is writable.
    let st = unsafe { wal_open(d.as_ptr(), opts, &mut w) };
    assert_eq!(st, WAL_OK, "wal_open: {}", last_error());
    assert!(!w.is_null());
    w
}

fn open(dir: &Path) -> *mut wal_t {
    open_with(dir, null())
}

fn close(w: *mut wal_t) {
    // SAFETY: w is a live handle from open_with, closed exactly once.
    assert_eq!(unsafe { wal_close(w) }, WAL_OK);
}

fn store(w: *mut wal_t, id: u64, data: &[u8]) {
    // SAFETY: w is live; data points to data.len() bytes.
    let st = unsafe { wal_store(w, id, data.as_ptr(), data.len()) };
    assert_eq!(st, WAL_OK, "{}", last_error());
}

fn fetch(w: *mut wal_t, id: u64) -> Result<Vec<u8>, wal_status> {
    let mut buf = vec![0u8; 256];
    let mut n = SENTINEL_LEN;
    // SAFETY: w is live; buf has 256 writable bytes; n is writable.
    let st = unsafe { wal_retrieve(w, id, buf.as_mut_ptr(), buf.len(), &mut n) };
    if st != WAL_OK {
        return Err(st);
    }
    buf.truncate(n);
    Ok(buf)
}

fn position(w: *mut wal_t) -> u64 {
    let mut p = SENTINEL;
    // SAFETY: w is live; p is writable.
    assert_eq!(unsafe { wal_log_position(w, &mut p) }, WAL_OK);
    p
}

/// Asserts a WAL_INVALID_ARGUMENT whose message is exactly `msg`.
#[track_caller]
fn assert_invalid(st: wal_status, msg: &str) {
    assert_eq!(st, WAL_INVALID_ARGUMENT, "message: {}", last_error());
    assert_eq!(st as i32, 2);
    assert_eq!(last_error(), msg);
}

// ------------------------------------------------------------------- wal_open

#[test]
fn wal_open_null_and_empty_arguments() {
    let d = tmp();
    let dir = cpath(d.path());
    let empty = CString::new("").unwrap();

    let mut out = sentinel_handle();
    // SAFETY: NULL dir is checked; out is writable.
    let st = unsafe { wal_open(null(), null(), &mut out) };
    assert_invalid(st, "wal_open: invalid argument: dir is NULL");
    assert_eq!(out, sentinel_handle(), "*out written on failure");

    // SAFETY: NULL out is checked before anything is done.
    let st = unsafe { wal_open(dir.as_ptr(), null(), null_mut()) };
    assert_invalid(st, "wal_open: invalid argument: out is NULL");
    // A NULL out must not have opened (and leaked) a store holding the lock.
    let w = open(d.path());
    close(w);

    // SAFETY: both pointers NULL: checked.
    let st = unsafe { wal_open(null(), null(), null_mut()) };
    assert_eq!(st, WAL_INVALID_ARGUMENT);

    // SAFETY: empty is NUL-terminated; out is writable.
    let st = unsafe { wal_open(empty.as_ptr(), null(), &mut out) };
    assert_invalid(st, "wal_open: invalid argument: dir is an empty string");
    assert_eq!(out, sentinel_handle());
}

#[test]
fn wal_open_writes_out_only_on_success() {
    let d = tmp();
    let dir = cpath(d.path());
    let w = open(d.path());

    let mut out = sentinel_handle();
    // SAFETY: dir is NUL-terminated; out is writable.
    let st = unsafe { wal_open(dir.as_ptr(), null(), &mut out) };
    assert_eq!(st, WAL_LOCKED);
    assert_eq!(out, sentinel_handle(), "*out written on WAL_LOCKED");
    let lock = d.path().join("LOCK");
    assert_eq!(
        last_error(),
        format!(
            "wal_open: {} is locked by another open (this process or another); close it first",
            lock.display()
        )
    );

    // A read-only open of a missing directory: WAL_IO, *out untouched.
    let missing = cpath(&d.path().join("missing"));
    let opts = wal_options_new();
    assert!(!opts.is_null());
    // SAFETY: opts is live.
    assert_eq!(unsafe { wal_options_set_read_only(opts, true) }, WAL_OK);
    // SAFETY: missing is NUL-terminated; opts is live; out is writable.
    let st = unsafe { wal_open(missing.as_ptr(), opts, &mut out) };
    assert_eq!(st, WAL_IO);
    assert_eq!(out, sentinel_handle(), "*out written on WAL_IO");
    // SAFETY: opts is live and freed once.
    unsafe { wal_options_free(opts) };

    close(w);
    // Now it opens, and *out is written.
    // SAFETY: dir is NUL-terminated; out is writable.
    let st = unsafe { wal_open(dir.as_ptr(), null(), &mut out) };
    assert_eq!(st, WAL_OK);
    assert_ne!(out, sentinel_handle());
    assert!(!out.is_null());
    close(out);
}

#[test]
fn wal_close_null_is_ok() {
    // SAFETY: NULL is documented as a no-op.
    assert_eq!(unsafe { wal_close(null_mut()) }, WAL_OK);
}

// ------------------------------------------------------------- handle calls

#[test]
fn a_null_handle_is_invalid_everywhere() {
    let mut data = *b"abc";
    let entry = wal_entry {
        id: 1,
        data: data.as_ptr(),
        len: data.len(),
    };
    let mut len = SENTINEL_LEN;
    let mut buf_ptr: *mut u8 = data.as_mut_ptr();
    let mut v = SENTINEL;
    let mut v2 = SENTINEL;
    let sentinel_str = c"sentinel".as_ptr();
    let mut path: *const c_char = sentinel_str;
    let w = null_mut::<wal_t>();

    // SAFETY: for every call below, w is NULL, which each function checks
    // first; every other pointer is live and writable or readable as needed.
    unsafe {
        assert_invalid(
            wal_store(w, 1, data.as_ptr(), data.len()),
            "wal_store: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_store_batch(w, &entry, 1),
            "wal_store_batch: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_store_batch(w, null(), 0),
            "wal_store_batch: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_retrieve(w, 1, data.as_mut_ptr(), data.len(), &mut len),
            "wal_retrieve: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_retrieve_alloc(w, 1, &mut buf_ptr, &mut len),
            "wal_retrieve_alloc: invalid argument: w is NULL",
        );
        assert_invalid(wal_delete(w, 1), "wal_delete: invalid argument: w is NULL");
        assert_invalid(wal_sync(w), "wal_sync: invalid argument: w is NULL");
        assert_invalid(
            wal_log_position(w, &mut v),
            "wal_log_position: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_open_records_replayed(w, &mut v),
            "wal_open_records_replayed: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_open_damaged_records(w, &mut v),
            "wal_open_damaged_records: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_open_torn_tail(w, &mut v, &mut v2),
            "wal_open_torn_tail: invalid argument: w is NULL",
        );
        assert_invalid(
            wal_open_torn_tail_path(w, &mut path),
            "wal_open_torn_tail_path: invalid argument: w is NULL",
        );
        assert!(!wal_should_snapshot(w));
    }
    assert_eq!(data, *b"abc");
    assert_eq!(len, SENTINEL_LEN);
    assert_eq!(buf_ptr, data.as_mut_ptr());
    assert_eq!((v, v2), (SENTINEL, SENTINEL));
    assert_eq!(path, sentinel_str);
}

#[test]
fn null_out_parameters_are_invalid_and_nothing_is_written() {
    let d = tmp();
    let w = open(d.path());
    store(w, 5, b"hello");
    let mut v = SENTINEL;
    let mut len = SENTINEL_LEN;
    let mut buf = [0xAAu8; 8];
    let mut out: *mut u8 = buf.as_mut_ptr();

    // SAFETY: for every call below, w is live; the NULL out-pointers are
    // checked before anything is written; every other pointer is valid.
    unsafe {
        assert_invalid(
            wal_retrieve(w, 5, buf.as_mut_ptr(), buf.len(), null_mut()),
            "wal_retrieve: invalid argument: out_len is NULL",
        );
        assert_invalid(
            wal_retrieve_alloc(w, 5, null_mut(), &mut len),
            "wal_retrieve_alloc: invalid argument: out is NULL",
        );
        assert_invalid(
            wal_retrieve_alloc(w, 5, &mut out, null_mut()),
            "wal_retrieve_alloc: invalid argument: out_len is NULL",
        );
        assert_invalid(
            wal_log_position(w, null_mut()),
            "wal_log_position: invalid argument: out is NULL",
        );
        assert_invalid(
            wal_open_records_replayed(w, null_mut()),
            "wal_open_records_replayed: invalid argument: out is NULL",
        );
        assert_invalid(
            wal_open_damaged_records(w, null_mut()),
            "wal_open_damaged_records: invalid argument: out is NULL",
        );
        assert_invalid(
            wal_open_torn_tail(w, null_mut(), &mut v),
            "wal_open_torn_tail: invalid argument: offset is NULL",
        );
        assert_invalid(
            wal_open_torn_tail(w, &mut v, null_mut()),
            "wal_open_torn_tail: invalid argument: bytes is NULL",
        );
        assert_invalid(
            wal_open_torn_tail_path(w, null_mut()),
            "wal_open_torn_tail_path: invalid argument: path is NULL",
        );
    }
    assert_eq!(buf, [0xAA; 8], "buf written on failure");
    assert_eq!(len, SENTINEL_LEN);
    assert_eq!(out, buf.as_mut_ptr());
    assert_eq!(v, SENTINEL);
    // The store is unharmed.
    assert_eq!(fetch(w, 5).unwrap(), b"hello");
    close(w);
}

#[test]
fn wal_retrieve_buffers_and_out_len() {
    let d = tmp();
    let w = open(d.path());
    store(w, 5, b"hello");
    store(w, 6, b"");

    let mut buf = [0xAAu8; 8];
    let mut len = SENTINEL_LEN;
    // SAFETY: for every call below, w is live; buf has the stated
    // capacity (or is NULL with the stated capacity, which is checked); len
    // is writable.
    unsafe {
        // NULL buf with a capacity: invalid, nothing written.
        assert_invalid(
            wal_retrieve(w, 5, null_mut(), 8, &mut len),
            "wal_retrieve: invalid argument: buf is NULL but cap is 8",
        );
        assert_eq!(len, SENTINEL_LEN);

        // Unknown id: NOT_FOUND, out_len untouched.
        assert_eq!(
            wal_retrieve(w, 99, buf.as_mut_ptr(), buf.len(), &mut len),
            WAL_NOT_FOUND
        );
        assert_eq!(last_error(), "wal_retrieve: id 99 not found");
        assert_eq!(len, SENTINEL_LEN);
        assert_eq!(buf, [0xAA; 8]);

        // NULL buf with cap 0 is a size query: BUFFER_TOO_SMALL, out_len is
        // the needed length (the one exception to outputs-only-on-success).
        assert_eq!(
            wal_retrieve(w, 5, null_mut(), 0, &mut len),
            WAL_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 5);
        assert_eq!(
            last_error(),
            "wal_retrieve: buffer too small for id 5: payload is 5 bytes, buffer holds 0"
        );

        // Too small a real buffer: untouched, out_len = needed.
        len = SENTINEL_LEN;
        assert_eq!(
            wal_retrieve(w, 5, buf.as_mut_ptr(), 4, &mut len),
            WAL_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 5);
        assert_eq!(buf, [0xAA; 8]);

        // Exact fit.
        len = SENTINEL_LEN;
        assert_eq!(wal_retrieve(w, 5, buf.as_mut_ptr(), 5, &mut len), WAL_OK);
        assert_eq!(len, 5);
        assert_eq!(&buf, b"hello\xAA\xAA\xAA");

        // A zero-length payload with a NULL buffer and cap 0: OK, length 0.
        len = SENTINEL_LEN;
        assert_eq!(wal_retrieve(w, 6, null_mut(), 0, &mut len), WAL_OK);
        assert_eq!(len, 0);
    }
    close(w);
}

#[test]
fn wal_retrieve_alloc_outputs_only_on_success() {
    let d = tmp();
    let w = open(d.path());
    store(w, 5, b"hello");
    store(w, 6, b"");
    let mut marker = 0u8;
    let sentinel: *mut u8 = &mut marker;
    let mut out = sentinel;
    let mut len = SENTINEL_LEN;
    // SAFETY: for every call below, w is live; out and len are writable;
    // buffers handed out are freed once with wal_buf_free.
    unsafe {
        assert_eq!(wal_retrieve_alloc(w, 99, &mut out, &mut len), WAL_NOT_FOUND);
        assert_eq!(last_error(), "wal_retrieve_alloc: id 99 not found");
        assert_eq!((out, len), (sentinel, SENTINEL_LEN));

        assert_eq!(wal_retrieve_alloc(w, 5, &mut out, &mut len), WAL_OK);
        assert_ne!(out, sentinel);
        assert_eq!(len, 5);
        assert_eq!(std::slice::from_raw_parts(out, len), b"hello");
        wal_buf_free(out);

        out = sentinel;
        assert_eq!(wal_retrieve_alloc(w, 6, &mut out, &mut len), WAL_OK);
        assert!(!out.is_null(), "a zero-length payload still gets a pointer");
        assert_ne!(out, sentinel);
        assert_eq!(len, 0);
        wal_buf_free(out);

        wal_buf_free(null_mut());
    }
    close(w);
}

#[test]
fn report_getters_without_a_tail_leave_outputs_alone() {
    let d = tmp();
    let w = open(d.path());
    let mut off = SENTINEL;
    let mut bytes = SENTINEL;
    let sentinel_str = c"sentinel".as_ptr();
    let mut path = sentinel_str;
    // SAFETY: w is live; every out-pointer is writable.
    unsafe {
        assert_eq!(wal_open_torn_tail(w, &mut off, &mut bytes), WAL_NOT_FOUND);
        assert_eq!(
            last_error(),
            "wal_open_torn_tail: the open found no torn tail (or, for its path, did not cut one)"
        );
        assert_eq!((off, bytes), (SENTINEL, SENTINEL));
        assert_eq!(wal_open_torn_tail_path(w, &mut path), WAL_NOT_FOUND);
        assert_eq!(path, sentinel_str);

        let mut v = SENTINEL;
        assert_eq!(wal_open_records_replayed(w, &mut v), WAL_OK);
        assert_eq!(v, 0);
        v = SENTINEL;
        assert_eq!(wal_open_damaged_records(w, &mut v), WAL_OK);
        assert_eq!(v, 0);
        assert_eq!(wal_log_position(w, &mut v), WAL_OK);
        assert_eq!(v, 64);
    }
    close(w);
}

#[test]
fn wal_store_null_data_and_oversized_payloads() {
    let d = tmp();
    let opts = wal_options_new();
    // SAFETY: opts is live.
    assert_eq!(unsafe { wal_options_set_max_payload(opts, 8) }, WAL_OK);
    let w = open_with(d.path(), opts);
    // SAFETY: opts is live and freed once (wal_open copied it).
    unsafe { wal_options_free(opts) };
    store(w, 1, b"kept");
    let before = log_bytes(d.path());
    let pos = position(w);

    // SAFETY: for every call below, w is live; NULL data comes with the
    // length that makes it invalid or (len 0) allowed; other data pointers
    // hold the stated lengths.
    unsafe {
        assert_invalid(
            wal_store(w, 2, null(), 5),
            "wal_store: invalid argument: data is NULL but its length is 5",
        );
        let nine = [9u8; 9];
        assert_invalid(
            wal_store(w, 2, nine.as_ptr(), nine.len()),
            "wal_store: invalid argument: payload of id 2 is 9 bytes, over the limit of 8 bytes",
        );
        assert_invalid(
            wal_store(w, 1, nine.as_ptr(), nine.len()),
            "wal_store: invalid argument: payload of id 1 is 9 bytes, over the limit of 8 bytes",
        );
    }
    assert_eq!(position(w), pos);
    assert_eq!(log_bytes(d.path()), before);
    assert_eq!(fetch(w, 1).unwrap(), b"kept");
    assert_eq!(fetch(w, 2), Err(WAL_NOT_FOUND));

    // NULL data with length 0 stores an empty payload.
    // SAFETY: NULL with len 0 is allowed.
    assert_eq!(unsafe { wal_store(w, 3, null(), 0) }, WAL_OK);
    assert_eq!(fetch(w, 3).unwrap(), b"");
    // Exactly at the limit is fine.
    store(w, 4, &[4u8; 8]);
    assert_eq!(fetch(w, 4).unwrap(), [4u8; 8]);
    close(w);
}

#[test]
fn wal_store_batch_bad_entries_reject_the_whole_batch() {
    let d = tmp();
    let opts = wal_options_new();
    // SAFETY: opts is live.
    assert_eq!(unsafe { wal_options_set_max_payload(opts, 8) }, WAL_OK);
    let w = open_with(d.path(), opts);
    // SAFETY: opts is live and freed once.
    unsafe { wal_options_free(opts) };
    store(w, 1, b"kept");
    let before = log_bytes(d.path());
    let pos = position(w);

    let ok = b"fine";
    let big = [7u8; 9];
    let entry = |id: u64, data: *const u8, len: usize| wal_entry { id, data, len };

    // SAFETY: for every call below, w is live; entries point to the stated
    // number of entries, whose non-NULL data hold their lengths.
    unsafe {
        assert_invalid(
            wal_store_batch(w, null(), 3),
            "wal_store_batch: invalid argument: entries is NULL but count is 3",
        );
        let with_null = [
            entry(2, ok.as_ptr(), ok.len()),
            entry(3, null(), 4),
            entry(4, ok.as_ptr(), ok.len()),
        ];
        assert_invalid(
            wal_store_batch(w, with_null.as_ptr(), with_null.len()),
            "wal_store_batch: invalid argument: entries[1].data is NULL but its length is 4",
        );
        let with_big = [
            entry(2, ok.as_ptr(), ok.len()),
            entry(1, ok.as_ptr(), ok.len()),
            entry(5, big.as_ptr(), big.len()),
        ];
        assert_invalid(
            wal_store_batch(w, with_big.as_ptr(), with_big.len()),
            "wal_store_batch: invalid argument: payload of id 5 is 9 bytes, over the limit of 8 bytes",
        );
        // Oversized and NULL at once is still rejected.
        let both = [entry(6, null(), 9)];
        assert_eq!(wal_store_batch(w, both.as_ptr(), 1), WAL_INVALID_ARGUMENT);
    }
    assert_eq!(position(w), pos, "a rejected batch wrote nothing");
    assert_eq!(log_bytes(d.path()), before);
    assert_eq!(fetch(w, 1).unwrap(), b"kept");
    for id in [2, 3, 4, 5, 6] {
        assert_eq!(fetch(w, id), Err(WAL_NOT_FOUND), "id {id}");
    }

    // SAFETY: count 0 with NULL entries is documented as a no-op; then a
    // valid batch with a NULL, zero-length entry.
    unsafe {
        assert_eq!(wal_store_batch(w, null(), 0), WAL_OK);
        assert_eq!(position(w), pos);
        let good = [
            entry(2, ok.as_ptr(), ok.len()),
            entry(3, null(), 0),
            entry(2, b"later".as_ptr(), 5),
        ];
        assert_eq!(wal_store_batch(w, good.as_ptr(), good.len()), WAL_OK);
    }
    assert_eq!(fetch(w, 2).unwrap(), b"later");
    assert_eq!(fetch(w, 3).unwrap(), b"");
    close(w);
}

#[test]
fn wal_delete_unknown_id_writes_nothing() {
    let d = tmp();
    let w = open(d.path());
    store(w, 1, b"x");
    let before = log_bytes(d.path());
    // SAFETY: w is live.
    assert_eq!(unsafe { wal_delete(w, 2) }, WAL_NOT_FOUND);
    assert_eq!(last_error(), "wal_delete: id 2 not found");
    assert_eq!(log_bytes(d.path()), before);
    close(w);
}

#[test]
fn writes_through_a_read_only_handle_are_invalid() {
    let d = tmp();
    let w = open(d.path());
    store(w, 1, b"x");
    close(w);
    let before = log_bytes(d.path());

    let opts = wal_options_new();
    // SAFETY: opts is live.
    assert_eq!(unsafe { wal_options_set_read_only(opts, true) }, WAL_OK);
    let w = open_with(d.path(), opts);
    // SAFETY: opts is live and freed once.
    unsafe { wal_options_free(opts) };
    let e = wal_entry {
        id: 2,
        data: b"y".as_ptr(),
        len: 1,
    };
    let refused = |st: wal_status, name: &str| {
        assert_eq!(st, WAL_INVALID_ARGUMENT, "{name}");
        let msg = last_error();
        assert!(msg.starts_with(&format!("{name}: ")), "{msg}");
        assert!(msg.contains("read-only"), "{msg}");
    };
    // SAFETY: for every call below, w is live; data and entries are valid.
    unsafe {
        refused(wal_store(w, 2, b"y".as_ptr(), 1), "wal_store");
        refused(wal_store_batch(w, &e, 1), "wal_store_batch");
        refused(wal_delete(w, 1), "wal_delete");
        assert_eq!(wal_sync(w), WAL_OK);
    }
    assert_eq!(fetch(w, 1).unwrap(), b"x");
    close(w);
    assert_eq!(log_bytes(d.path()), before);
}

// ------------------------------------------------------------------- options

#[test]
fn options_setters_with_null_or_bad_values() {
    let o = null_mut::<wal_options>();
    // SAFETY: for every call below, NULL opts is checked first.
    unsafe {
        assert_invalid(
            wal_options_set_durability(o, 0),
            "wal_options_set_durability: invalid argument: opts is NULL",
        );
        assert_invalid(
            wal_options_set_recovery_mode(o, 0),
            "wal_options_set_recovery_mode: invalid argument: opts is NULL",
        );
        assert_invalid(
            wal_options_set_max_payload(o, 16),
            "wal_options_set_max_payload: invalid argument: opts is NULL",
        );
        assert_invalid(
            wal_options_set_read_only(o, true),
            "wal_options_set_read_only: invalid argument: opts is NULL",
        );
        assert_invalid(
            wal_options_set_snapshot_threshold(o, 1),
            "wal_options_set_snapshot_threshold: invalid argument: opts is NULL",
        );
        assert_invalid(
            wal_options_set_write_buffer(o, 1),
            "wal_options_set_write_buffer: invalid argument: opts is NULL",
        );
        wal_options_free(null_mut());
    }

    let o = wal_options_new();
    assert!(!o.is_null());
    // SAFETY: for every call below, o is live until freed at the end.
    unsafe {
        assert_invalid(
            wal_options_set_durability(o, 3),
            "wal_options_set_durability: invalid argument: unknown durability level 3",
        );
        assert_invalid(
            wal_options_set_durability(o, -1),
            "wal_options_set_durability: invalid argument: unknown durability level -1",
        );
        assert_invalid(
            wal_options_set_recovery_mode(o, 3),
            "wal_options_set_recovery_mode: invalid argument: unknown recovery mode 3",
        );
        assert_invalid(
            wal_options_set_max_payload(o, 0),
            &format!(
                "wal_options_set_max_payload: invalid argument: max payload 0 is outside 1..={}",
                u32::MAX
            ),
        );
        assert_eq!(
            wal_options_set_max_payload(o, u32::MAX as usize + 1),
            WAL_INVALID_ARGUMENT
        );
        assert_eq!(wal_options_set_write_buffer(o, 0), WAL_INVALID_ARGUMENT);
        assert_eq!(
            wal_options_set_write_buffer(o, (1 << 30) + 1),
            WAL_INVALID_ARGUMENT
        );
        for v in 0..3 {
            assert_eq!(wal_options_set_durability(o, v), WAL_OK);
            assert_eq!(wal_options_set_recovery_mode(o, v), WAL_OK);
        }
        assert_eq!(wal_options_set_max_payload(o, 1), WAL_OK);
        assert_eq!(wal_options_set_max_payload(o, u32::MAX as usize), WAL_OK);
        assert_eq!(wal_options_set_write_buffer(o, 1 << 30), WAL_OK);
        assert_eq!(wal_options_set_snapshot_threshold(o, 0), WAL_OK);
        assert_eq!(wal_options_set_read_only(o, false), WAL_OK);
        wal_options_free(o);
    }
}

/// A rejected value leaves the options as they were: the store opened with
/// them still uses the earlier, valid value.
#[test]
fn a_rejected_option_value_changes_nothing() {
    let d = tmp();
    let o = wal_options_new();
    // SAFETY: o is live until freed below.
    unsafe {
        assert_eq!(wal_options_set_max_payload(o, 4), WAL_OK);
        assert_eq!(wal_options_set_max_payload(o, 0), WAL_INVALID_ARGUMENT);
    }
    let w = open_with(d.path(), o);
    // SAFETY: o is live and freed once.
    unsafe { wal_options_free(o) };
    store(w, 1, b"four");
    // SAFETY: w is live; the data holds 5 bytes.
    let st = unsafe { wal_store(w, 2, b"five!".as_ptr(), 5) };
    assert_eq!(st, WAL_INVALID_ARGUMENT);
    close(w);
}

// ------------------------------------------------------------ misc functions

#[test]
fn wal_should_snapshot_null_is_false() {
    // SAFETY: NULL is checked.
    assert!(!unsafe { wal_should_snapshot(null()) });
}

#[test]
fn status_strings_for_every_value() {
    let s = |v: i32| {
        let p = wal_status_str(v);
        assert!(!p.is_null());
        // SAFETY: a static NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    };
    let all = [
        (WAL_OK, 0, "ok"),
        (WAL_NOT_FOUND, 1, "not found"),
        (WAL_INVALID_ARGUMENT, 2, "invalid argument"),
        (WAL_BUFFER_TOO_SMALL, 3, "buffer too small"),
        (WAL_IO, 4, "I/O error"),
        (WAL_NO_SPACE, 5, "no space left on device"),
        (WAL_CORRUPTION, 6, "corruption"),
        (WAL_LOCKED, 7, "store is locked by another open"),
        (WAL_INCOMPATIBLE, 8, "incompatible file or format version"),
        (
            WAL_POISONED,
            9,
            "handle poisoned by an earlier failure; reopen the store",
        ),
        (WAL_PANIC, 10, "panic inside walstore"),
        (
            WAL_COMPACTED,
            11,
            "sequence number folded away by compaction",
        ),
    ];
    for (st, n, text) in all {
        assert_eq!(st as i32, n);
        assert_eq!(s(n), text);
        assert_eq!(s(st as i32), text);
    }
    for unknown in [12, 100, -1, i32::MIN, i32::MAX] {
        assert_eq!(s(unknown), "unknown status", "{unknown}");
    }
}

#[test]
fn last_error_is_per_thread_never_null_and_empty_at_first() {
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        // A successful call leaves it empty.
        assert_eq!(
            // SAFETY: NULL is a no-op.
            unsafe { wal_close(null_mut()) },
            WAL_OK
        );
        assert_eq!(last_error(), "");
        // SAFETY: NULL w is checked.
        assert_eq!(unsafe { wal_sync(null_mut()) }, WAL_INVALID_ARGUMENT);
        assert_eq!(last_error(), "wal_sync: invalid argument: w is NULL");
        // Another fresh thread does not see this thread's message.
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
        assert_eq!(last_error(), "wal_sync: invalid argument: w is NULL");
        // A later success does not clear it.
        // SAFETY: NULL is a no-op.
        assert_eq!(unsafe { wal_close(null_mut()) }, WAL_OK);
        assert_eq!(last_error(), "wal_sync: invalid argument: w is NULL");
    })
    .join()
    .unwrap();
}

#[test]
fn wal_version_accepts_null_outputs() {
    // SAFETY: NULL outputs are allowed.
    let p = unsafe { wal_version(null_mut(), null_mut(), null_mut()) };
    assert!(!p.is_null());
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
    assert_eq!(v, walstore::VERSION_STRING);
    let (mut a, mut b, mut c): (c_int, c_int, c_int) = (-1, -1, -1);
    // SAFETY: all three are writable.
    let p2 = unsafe { wal_version(&mut a, &mut b, &mut c) };
    assert_eq!(p2, p);
    assert_eq!(
        (a, b, c),
        (
            walstore::VERSION_MAJOR as c_int,
            walstore::VERSION_MINOR as c_int,
            walstore::VERSION_PATCH as c_int
        )
    );
    let mut m: c_int = -1;
    // SAFETY: m is writable; the others are NULL.
    unsafe { wal_version(null_mut(), &mut m, null_mut()) };
    assert_eq!(m, walstore::VERSION_MINOR as c_int);
}
