//! Small helpers shared by every target: a byte reader that decodes fuzz
//! input deterministically, scratch directories on tmpfs, and file access.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use walstore::{Error, ErrorKind};

/// The log file name of generation 1, the only one walstore 0.1 creates.
pub const LOG_NAME: &str = "wal-0000000000000001.log";
pub const LOCK_NAME: &str = "LOCK";

/// Reads fixed-size fields from the fuzz input. Once the input runs out
/// every read returns zeros, so any input decodes to something and the same
/// input always decodes to the same thing.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes (fewer when the input runs out).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// A scratch directory, removed when dropped. It lives on tmpfs
/// (`/dev/shm`) when there is one, so that fsync costs nothing.
pub struct TmpDir {
    path: PathBuf,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Removes the scratch directories that earlier runs left behind when an
/// input failed (a failing input aborts the process before `Drop` runs):
/// those whose process is gone.
fn sweep(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("walstore-fuzz-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl TmpDir {
    pub fn new() -> TmpDir {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep(&base));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("walstore-fuzz-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch directory");
        TmpDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh, empty subdirectory `name` (emptied if it exists).
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create scratch subdirectory");
        p
    }
}

impl Default for TmpDir {
    fn default() -> Self {
        TmpDir::new()
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Makes `dir` a store directory holding exactly `log` as its log (and an
/// empty LOCK file, which a read-only open needs), removing anything else.
pub fn lay_out_store(dir: &Path, log: &[u8]) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("create store directory");
    fs::write(dir.join(LOCK_NAME), b"").expect("write LOCK");
    fs::write(dir.join(LOG_NAME), log).expect("write log");
}

/// Copies every regular file of `from` into a fresh directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).expect("create directory copy");
    for e in fs::read_dir(from).expect("list directory") {
        let e = e.expect("directory entry");
        if e.file_type().expect("file type").is_file() {
            fs::copy(e.path(), to.join(e.file_name())).expect("copy file");
        }
    }
}

/// Names in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list directory")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// An error's kind, for comparisons (`Error` itself is not `PartialEq`).
pub fn kind<T>(r: &Result<T, Error>) -> Option<ErrorKind> {
    r.as_ref().err().map(Error::kind)
}

/// Whether the known library bug `name` is to be tolerated: only when the
/// environment variable `WALSTORE_FUZZ_KNOWN_BUGS` lists it (names separated
/// by commas). Tolerating one lets a long fuzzing run look for other bugs
/// past it; by default every check applies. The names are in README.md.
pub fn tolerate(name: &str) -> bool {
    std::env::var("WALSTORE_FUZZ_KNOWN_BUGS").is_ok_and(|v| v.split(',').any(|n| n.trim() == name))
}
