//! The real file system.

use super::{sys, Mapping, OpenMode, Vfs, VfsFile};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

#[derive(Debug)]
pub struct StdFile(File);

impl Vfs for StdVfs {
    type File = StdFile;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<StdFile> {
        let mut o = OpenOptions::new();
        o.read(true).custom_flags(libc::O_CLOEXEC);
        match mode {
            OpenMode::ReadOnly => {}
            OpenMode::ReadWrite => {
                o.write(true);
            }
            OpenMode::ReadWriteCreate => {
                o.write(true).create(true).truncate(false);
            }
            OpenMode::CreateNew => {
                o.write(true).create_new(true);
            }
        }
        o.open(path).map(StdFile)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
            .open(path)?
            .sync_all()
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        Ok(fs::metadata(path)?.is_dir())
    }
}

impl VfsFile for StdFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn try_lock(&self, exclusive: bool) -> io::Result<bool> {
        sys::try_flock(&self.0, exclusive)
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        sys::fallocate(&self.0, offset, len)
    }

    fn map(&self, len: u64) -> io::Result<Mapping> {
        sys::Mmap::map_shared_read_only(&self.0, len).map(Mapping)
    }

    fn read_exact_at2(&self, head: &mut [u8], body: &mut [u8], offset: u64) -> io::Result<()> {
        let want = head.len() + body.len();
        let n = sys::preadv2(&self.0, head, body, offset)?;
        if n == want {
            return Ok(());
        }
        // Short read (a signal, or the end of the file): finish the slow way,
        // which reports UnexpectedEof if the bytes are really not there.
        let (hl, off) = (head.len(), offset);
        if n < hl {
            self.read_exact_at(&mut head[n..], off + n as u64)?;
            self.read_exact_at(body, off + hl as u64)
        } else {
            self.read_exact_at(&mut body[n - hl..], off + n as u64)
        }
    }
}
