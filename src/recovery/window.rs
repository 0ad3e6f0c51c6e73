//! A read window over the log for replay: sequential scans cost one large
//! read per megabyte, and scans past damage re-use the same window.

use crate::vfs::VfsFile;
use std::io;

const CHUNK: usize = 1 << 20;

pub(super) struct Window<'a, F> {
    file: &'a F,
    pub(super) file_len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a, F: VfsFile> Window<'a, F> {
    pub(super) fn new(file: &'a F, file_len: u64) -> Self {
        Window {
            file,
            file_len,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// `len` bytes at `off`; the caller guarantees they lie inside the file.
    pub(super) fn bytes(&mut self, off: u64, len: usize) -> io::Result<&[u8]> {
        debug_assert!(off + len as u64 <= self.file_len);
        let end = self.start + self.buf.len() as u64;
        if off < self.start || off + len as u64 > end {
            let want = (len.max(CHUNK) as u64).min(self.file_len - off) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, off)?;
            self.start = off;
        }
        let at = (off - self.start) as usize;
        Ok(&self.buf[at..at + len])
    }

    /// Whether every byte from `from` to the end of the file is zero.
    pub(super) fn zeros_from(&mut self, from: u64) -> io::Result<bool> {
        let mut at = from;
        while at < self.file_len {
            let n = (self.file_len - at).min(ZERO_SCAN as u64) as usize;
            if last_non_zero(self.bytes(at, n)?).is_some() {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// The end of the last non-zero byte at or after `from` (`from` when
    /// there is none), found from the end of the file backwards: the zeros
    /// after it are free space in a preallocated log.
    pub(super) fn data_end(&mut self, from: u64) -> io::Result<u64> {
        let mut buf = vec![0u8; ZERO_SCAN];
        let mut end = self.file_len;
        while end > from {
            let n = (end - from).min(ZERO_SCAN as u64) as usize;
            let at = end - n as u64;
            self.file.read_exact_at(&mut buf[..n], at)?;
            if let Some(i) = last_non_zero(&buf[..n]) {
                return Ok(at + i as u64 + 1);
            }
            end = at;
        }
        Ok(from)
    }
}

/// Where the last non-zero byte of `bytes` is. Whole 64-byte blocks are
/// checked by OR-ing their bytes, a loop without an early exit that the
/// compiler can vectorise, where a search a byte at a time cannot: an open
/// of a log a crash left preallocated reads up to a mebibyte of zeros.
fn last_non_zero(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let whole = bytes.len() / BLOCK * BLOCK;
    let in_block = |from: usize, b: &[u8]| b.iter().rposition(|&x| x != 0).map(|i| from + i);
    if let Some(i) = in_block(whole, &bytes[whole..]) {
        return Some(i);
    }
    bytes[..whole]
        .chunks_exact(BLOCK)
        .enumerate()
        .rev()
        .find(|(_, b)| b.iter().fold(0u8, |acc, &x| acc | x) != 0)
        .and_then(|(k, b)| in_block(k * BLOCK, b))
}

/// The step of a scan for zeros.
const ZERO_SCAN: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::last_non_zero;

    #[test]
    fn last_non_zero_finds_the_last_set_byte_at_every_place() {
        for len in [0usize, 1, 63, 64, 65, 127, 128, 200, 4096] {
            let zeros = vec![0u8; len];
            assert_eq!(last_non_zero(&zeros), None, "len {len}");
            for at in 0..len {
                let mut v = zeros.clone();
                v[at] = 1 << (at % 8);
                assert_eq!(last_non_zero(&v), Some(at), "len {len}, at {at}");
                // An earlier set byte changes nothing.
                v[at / 2] = 0xff;
                assert_eq!(last_non_zero(&v), Some(at), "len {len}, at {at}");
            }
        }
    }
}
