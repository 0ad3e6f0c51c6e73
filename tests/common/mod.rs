//! Helpers shared by the integration tests.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use tempfile::TempDir;

/// A temporary directory, in memory (/dev/shm) where there is one: fsync
/// costs nothing there, so the tests measure walstore, not the disk.
pub fn tmp() -> TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// A deterministic payload of `len` bytes that starts by naming its id and
/// version.
pub fn payload(id: u64, version: u64, len: usize) -> Vec<u8> {
    let mut p = format!("id={id} v={version};").into_bytes();
    let mut x =
        id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ version.wrapping_mul(0xD1B5_4A32_D192_ED03);
    while p.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push(x as u8);
    }
    p.truncate(len);
    p
}

/// Waits until `done()` holds, polling every 100 µs; panics with `what`
/// after two minutes. Concurrency tests use it for handshakes, so
/// that what they assert happened concurrently did, on a machine of any
/// speed or core count (no test counts on a thread being scheduled in
/// time).
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "stalled: {what}");
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}
