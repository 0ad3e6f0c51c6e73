//! Helpers shared by the integration tests.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use tempfile::TempDir;
use walstore::format::{FLAG_PREALLOCATED, PREALLOCATION_STEP, RECORD_HEADER_LEN};

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

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A record's CRC: over the log identity (little-endian), then `bytes`.
pub fn crc_with_log_id(log_id: u64, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&log_id.to_le_bytes());
    h.update(bytes);
    h.finalize()
}

/// Where a torn tail from `offset` ends: the end of the file, or in a
/// preallocated log whose length is a multiple of the step (the only one
/// with free space), the end of its last non-zero byte or of the furthest
/// record after `offset` whose header is intact, whichever is further.
pub fn tail_end(log: &[u8], offset: u64) -> usize {
    if u32_at(log, 12) & FLAG_PREALLOCATED == 0 || log.len() as u64 % PREALLOCATION_STEP != 0 {
        return log.len();
    }
    let from = offset as usize;
    let nonzero = from
        + log[from..]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
    let log_id = u64_at(log, 16);
    let intact_end = (from..nonzero)
        .filter(|&q| q + RECORD_HEADER_LEN <= log.len())
        .filter(|&q| {
            let h = &log[q..q + RECORD_HEADER_LEN];
            (1..=6).contains(&h[0])
                && h[1..4] == [0, 0, 0]
                && u32_at(h, 28) == crc_with_log_id(log_id, &h[..28])
        })
        .map(|q| (q + RECORD_HEADER_LEN + u32_at(log, q + 4) as usize).min(log.len()))
        .max()
        .unwrap_or(0);
    nonzero.max(intact_end)
}
