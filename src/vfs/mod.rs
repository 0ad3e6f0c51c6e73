//! The file-system interface: every file and directory operation the engine
//! performs goes through [`Vfs`] and [`VfsFile`]. The engine is generic over
//! them, so production code calls the real file system directly (no virtual
//! call) while tests substitute [`FaultVfs`] to count calls and inject
//! failures.

mod fault;
mod std_fs;
pub(crate) mod sys;

use std::io;
use std::path::Path;

pub use fault::{
    CrashPolicy, CrashReport, CrashRng, DirOutcome, FaultKind, FaultVfs, FileCrash, FileOutcome, Op,
};
pub use std_fs::{StdFile, StdVfs};

/// How to open a file. Every mode opens with `O_CLOEXEC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    ReadOnly,
    ReadWrite,
    /// Read-write, creating the file if it is missing.
    ReadWriteCreate,
    /// Read-write, failing with `AlreadyExists` if the file exists.
    CreateNew,
}

/// A read-only, shared memory map of the start of a file, from
/// [`VfsFile::map`]. Opaque: only the real file system ([`StdFile`]) makes
/// one, and the store alone reads through it, record by record, checking
/// each record's CRCs as it does for bytes from `read_exact_at2`.
#[derive(Debug)]
pub struct Mapping(sys::Mmap);

impl Mapping {
    /// Bytes of address space mapped (possibly more than the file holds).
    pub(crate) fn len(&self) -> u64 {
        self.0.len() as u64
    }

    /// Copies the bytes at `offset` into `head`, then `body`; false when they
    /// lie outside the mapping. The caller must know the file holds them and
    /// is not truncated below them meanwhile (see `store::map`).
    pub(crate) fn copy_at(&self, offset: u64, head: &mut [u8], body: &mut [u8]) -> bool {
        self.0.copy_at(offset, head, body)
    }
}

pub trait Vfs: Clone + Send + Sync + 'static {
    type File: VfsFile;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File>;
    /// Creates the directory and any missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries in a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// fsync of a directory: makes created, renamed and removed names durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
}

// `len` returns io::Result, so an `is_empty` twin would add nothing.
#[allow(clippy::len_without_is_empty)]
pub trait VfsFile: Send + Sync + 'static {
    fn len(&self) -> io::Result<u64>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// fdatasync.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync, for when metadata such as a shrunken size must be durable.
    fn sync_all(&self) -> io::Result<()>;
    /// Non-blocking `flock`: `Ok(false)` when another open holds a
    /// conflicting lock.
    fn try_lock(&self, exclusive: bool) -> io::Result<bool>;

    /// Allocates disk space for `len` bytes at `offset`, growing the file
    /// if they end past it; the bytes it adds read as zeros (`fallocate`).
    /// An append into allocated space changes no file size, so its
    /// fdatasync has less to write. The default cannot allocate.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system does not allocate ahead",
        ))
    }

    /// Reads a record header and its payload, which sit next to each other on
    /// disk, into two buffers. The real file does it in one `preadv`.
    fn read_exact_at2(&self, head: &mut [u8], body: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(head, offset)?;
        self.read_exact_at(body, offset + head.len() as u64)
    }

    /// Maps the first `len` bytes of the file read-only and shared (`len`
    /// may exceed the file's length), so that the store can read records
    /// that the file already holds without a system call. The default cannot
    /// map: the store then reads every record with `read_exact_at2`, which
    /// is what a file system that counts reads or injects read faults
    /// (`FaultVfs`) needs.
    fn map(&self, len: u64) -> io::Result<Mapping> {
        let _ = len;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system does not memory-map files",
        ))
    }

    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
