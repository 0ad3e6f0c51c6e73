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
}
