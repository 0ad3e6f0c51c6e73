//! A file system for tests: the real one, plus call counters and scripted
//! failures ("the 3rd fdatasync fails with EIO", "every write to the log
//! fails with ENOSPC"). It lives in the library, not under `tests/`, so that
//! integration tests, the fuzzers and the crash harness all share it.

use super::{OpenMode, StdFile, StdVfs, Vfs, VfsFile};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The operations that can be counted and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Open,
    Read,
    Write,
    SetLen,
    SyncData,
    SyncAll,
    SyncDir,
    Rename,
    Remove,
    Lock,
    ListDir,
    CreateDir,
}

/// What an injected failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The call fails with this errno and does nothing.
    Errno(i32),
    /// A write stores the first half of its bytes and reports a short write;
    /// the write that would complete it fails with this errno.
    ShortWrite(i32),
}

#[derive(Debug)]
struct Rule {
    op: Op,
    /// Calls of `op` still to pass before the failing one (0: the next).
    skip: u64,
    kind: FaultKind,
    persistent: bool,
    path_contains: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    counts: Mutex<HashMap<Op, u64>>,
    rules: Mutex<Vec<Rule>>,
    injected: Mutex<u64>,
}

impl State {
    /// Counts the call and returns the fault to inject, if any.
    fn check(&self, op: Op, path: &Path) -> Option<FaultKind> {
        *self.counts.lock().entry(op).or_insert(0) += 1;
        let mut rules = self.rules.lock();
        let path = path.to_string_lossy();
        let pos = rules.iter_mut().position(|r| {
            r.op == op && r.path_contains.as_deref().is_none_or(|s| path.contains(s)) && {
                if r.skip == 0 {
                    true
                } else {
                    r.skip -= 1;
                    false
                }
            }
        })?;
        let kind = rules[pos].kind;
        if !rules[pos].persistent {
            rules.remove(pos);
        }
        *self.injected.lock() += 1;
        Some(kind)
    }

    fn fail(&self, op: Op, path: &Path) -> io::Result<()> {
        match self.check(op, path) {
            Some(FaultKind::Errno(e)) | Some(FaultKind::ShortWrite(e)) => {
                Err(io::Error::from_raw_os_error(e))
            }
            None => Ok(()),
        }
    }
}

/// The real file system with counters and injected failures. Clones share
/// their counters and rules, so a test keeps one clone and hands the other to
/// the store.
#[derive(Debug, Clone, Default)]
pub struct FaultVfs {
    state: Arc<State>,
}

impl FaultVfs {
    pub fn new() -> FaultVfs {
        FaultVfs::default()
    }

    /// How many calls of `op` were made (failed ones included, except the
    /// call completing an injected short write, which fails without being
    /// counted: it is part of the one injected fault).
    pub fn count(&self, op: Op) -> u64 {
        self.state.counts.lock().get(&op).copied().unwrap_or(0)
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        *self.state.injected.lock()
    }

    /// The `nth` call of `op` from now (1: the next one) fails once.
    pub fn fail_nth(&self, op: Op, nth: u64, kind: FaultKind) {
        self.push(op, nth, kind, false, None);
    }

    /// Every call of `op` on a path containing `path_contains` fails until
    /// [`FaultVfs::clear`].
    pub fn fail_always(&self, op: Op, kind: FaultKind, path_contains: Option<&str>) {
        self.push(op, 1, kind, true, path_contains);
    }

    /// Removes every rule; counters are kept.
    pub fn clear(&self) {
        self.state.rules.lock().clear();
    }

    fn push(&self, op: Op, nth: u64, kind: FaultKind, persistent: bool, path: Option<&str>) {
        assert!(nth >= 1, "nth counts from 1");
        self.state.rules.lock().push(Rule {
            op,
            skip: nth - 1,
            kind,
            persistent,
            path_contains: path.map(str::to_owned),
        });
    }
}

pub struct FaultFile {
    inner: StdFile,
    path: PathBuf,
    state: Arc<State>,
    /// Set after an injected short write: the next write fails.
    short_pending: AtomicBool,
    short_errno: Mutex<i32>,
}

impl Vfs for FaultVfs {
    type File = FaultFile;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<FaultFile> {
        self.state.fail(Op::Open, path)?;
        Ok(FaultFile {
            inner: StdVfs.open(path, mode)?,
            path: path.to_owned(),
            state: self.state.clone(),
            short_pending: AtomicBool::new(false),
            short_errno: Mutex::new(0),
        })
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.state.fail(Op::CreateDir, path)?;
        StdVfs.create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.state.fail(Op::ListDir, path)?;
        StdVfs.list_dir(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.fail(Op::Rename, from)?;
        StdVfs.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state.fail(Op::Remove, path)?;
        StdVfs.remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.state.fail(Op::SyncDir, path)?;
        StdVfs.sync_dir(path)
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        StdVfs.is_dir(path)
    }
}

impl VfsFile for FaultFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.state.fail(Op::Read, &self.path)?;
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if self.short_pending.swap(false, Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(*self.short_errno.lock()));
        }
        match self.state.check(Op::Write, &self.path) {
            None => self.inner.write_at(buf, offset),
            Some(FaultKind::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
            Some(FaultKind::ShortWrite(e)) => {
                *self.short_errno.lock() = e;
                self.short_pending.store(true, Ordering::SeqCst);
                self.inner.write_at(&buf[..buf.len() / 2], offset)
            }
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.state.fail(Op::SetLen, &self.path)?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.state.fail(Op::SyncData, &self.path)?;
        self.inner.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.state.fail(Op::SyncAll, &self.path)?;
        self.inner.sync_all()
    }

    fn try_lock(&self, exclusive: bool) -> io::Result<bool> {
        self.state.fail(Op::Lock, &self.path)?;
        self.inner.try_lock(exclusive)
    }

    fn read_exact_at2(&self, head: &mut [u8], body: &mut [u8], offset: u64) -> io::Result<()> {
        self.state.fail(Op::Read, &self.path)?;
        self.inner.read_exact_at2(head, body, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_call_fails_once_and_counts_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        let f = vfs
            .open(&dir.path().join("f"), OpenMode::ReadWriteCreate)
            .unwrap();
        vfs.fail_nth(Op::SyncData, 2, FaultKind::Errno(libc::EIO));
        assert!(f.sync_data().is_ok());
        assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
        assert!(f.sync_data().is_ok());
        assert_eq!(vfs.count(Op::SyncData), 3);
        assert_eq!(vfs.injected(), 1);
    }

    #[test]
    fn short_write_stores_half_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        let p = dir.path().join("f");
        let f = vfs.open(&p, OpenMode::ReadWriteCreate).unwrap();
        vfs.fail_nth(Op::Write, 1, FaultKind::ShortWrite(libc::ENOSPC));
        let err = f.write_all_at(b"12345678", 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(std::fs::read(&p).unwrap(), b"1234");
    }

    #[test]
    fn persistent_rule_matches_paths() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        let a = vfs
            .open(&dir.path().join("a.log"), OpenMode::ReadWriteCreate)
            .unwrap();
        let b = vfs
            .open(&dir.path().join("b.cut"), OpenMode::ReadWriteCreate)
            .unwrap();
        vfs.fail_always(Op::Write, FaultKind::Errno(libc::EIO), Some(".log"));
        assert!(a.write_at(b"x", 0).is_err());
        assert!(a.write_at(b"x", 0).is_err());
        assert_eq!(b.write_at(b"x", 0).unwrap(), 1);
        vfs.clear();
        assert_eq!(a.write_at(b"x", 0).unwrap(), 1);
    }
}
