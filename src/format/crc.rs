//! CRC32 (IEEE, crc32fast) with the log identity mixed in first, so a record
//! left from an earlier use of the same disk space, or copied from another
//! log, fails its check here.

use std::cell::Cell;
use std::sync::OnceLock;

/// A fresh hasher. `crc32fast::Hasher::new` (and `crc32fast::hash`, which
/// calls it) runs the CPU feature detection on every call, a cost paid twice
/// per record; this detects once and clones the result, which copies a few
/// words.
#[inline]
pub(crate) fn hasher() -> crc32fast::Hasher {
    static DETECTED: OnceLock<crc32fast::Hasher> = OnceLock::new();
    DETECTED.get_or_init(crc32fast::Hasher::new).clone()
}

/// A hasher that has taken in the log identity: feed it the checked bytes,
/// in as many pieces as convenient, then `finalize`. Each thread keeps the
/// hasher of the last identity it saw: a store works on one log at a time,
/// and every record takes two CRCs, so the 8 identity bytes are hashed once
/// per log, not twice per record.
#[inline]
pub(crate) fn identity_hasher(log_id: u64) -> crc32fast::Hasher {
    thread_local! {
        static LAST: Cell<Option<(u64, crc32fast::Hasher)>> = const { Cell::new(None) };
    }
    LAST.with(|last| {
        let cached = last.take();
        let h = match cached {
            Some((id, h)) if id == log_id => h,
            _ => {
                let mut h = hasher();
                h.update(&log_id.to_le_bytes());
                h
            }
        };
        last.set(Some((log_id, h.clone())));
        h
    })
}

pub(crate) fn crc_with_identity(log_id: u64, parts: &[&[u8]]) -> u32 {
    let mut h = identity_hasher(log_id);
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

pub(crate) fn crc(bytes: &[u8]) -> u32 {
    let mut h = hasher();
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_plain_crc32_of_the_identity_then_the_parts() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc(b""), 0);
        let id = 0x0123_4567_89ab_cdefu64;
        for len in [0usize, 1, 7, 15, 16, 28, 100, 127, 128, 300, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut whole = id.to_le_bytes().to_vec();
            whole.extend_from_slice(&data);
            let want = crc32fast::hash(&whole);
            assert_eq!(crc_with_identity(id, &[&data]), want, "len {len}");
            let (a, b) = data.split_at(len / 3);
            assert_eq!(crc_with_identity(id, &[a, b]), want, "len {len}");
            assert_eq!(crc(&whole), want, "len {len}");
        }
        // Identities taking turns on one thread each get their own CRC,
        // whatever the thread's cached hasher held before.
        for id in [0u64, 1, 0, u64::MAX, 1] {
            let mut whole = id.to_le_bytes().to_vec();
            whole.extend_from_slice(b"abc");
            assert_eq!(crc_with_identity(id, &[b"abc"]), crc32fast::hash(&whole));
        }
        // From another thread, the shared hasher gives the same.
        let t = std::thread::spawn(|| crc(b"123456789")).join().unwrap();
        assert_eq!(t, 0xcbf4_3926);
    }
}
