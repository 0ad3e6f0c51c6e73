//! A file system for tests: the real one, plus call counters and scripted
//! failures ("the 3rd fdatasync fails with EIO", "every write to the log
//! fails with ENOSPC"), and simulated crashes. It lives in the library, not
//! under `tests/`, so that integration tests, the fuzzers and the crash
//! harness all share it. Production code never sees it: the engine is
//! generic over [`Vfs`], and `StdVfs` has none of this.
//!
//! Crashes: [`FaultVfs::crash_now`] (or [`FaultVfs::crash_at`], which
//! arms one just before a given file operation) kills every handle opened
//! through the `FaultVfs` and every clone of it: each call through them
//! fails from then on, and their descriptors (with their `flock`s) are
//! closed, as a dead process's would be. With [`FaultVfs::with_power_loss`],
//! the crash is a power loss: the directories are rewritten to a state the
//! disk could hold after a power cut (`fault/power.rs` describes the model
//! and its assumptions). Without it, the files stay as the page cache had them: a
//! process crash. Either way, a new `FaultVfs` (or `StdVfs`) opens what the
//! crash left.

mod power;

pub use power::{CrashPolicy, CrashReport, CrashRng, DirOutcome, FileCrash, FileOutcome};

use super::{OpenMode, StdFile, StdVfs, Vfs, VfsFile};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// The operations that can be counted and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Open,
    Read,
    Write,
    SetLen,
    /// `fallocate`, modelled as a growth of the file's size: like a
    /// `SetLen`, a power loss keeps it only once synced.
    Allocate,
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
    /// Eligible only once more than this many faults were injected.
    after_injected: Option<u64>,
}

/// What a handle shares with the registry: its descriptor (closed at a
/// crash) and its file's current name (a rename through the `FaultVfs`
/// moves it, so that rules and messages see the name the file has now).
#[derive(Debug)]
struct Shared {
    file: RwLock<Option<StdFile>>,
    path: Mutex<PathBuf>,
}

#[derive(Debug)]
struct State {
    /// `allocate` fails with `Unsupported`, as on a file system without
    /// `fallocate`: logs then grow by their writes alone.
    no_allocation: AtomicBool,
    counts: Mutex<HashMap<Op, u64>>,
    rules: Mutex<Vec<Rule>>,
    injected: Mutex<u64>,
    last_injected: Mutex<Option<(Op, PathBuf, FaultKind)>>,
    /// Every counted call.
    total: AtomicU64,
    /// Every call holds it shared while it runs; a crash takes it exclusive,
    /// so that no call is half done when the directory is rewritten. False
    /// once crashed.
    alive: RwLock<bool>,
    /// A crash armed to happen just before call number `.0` (counted in
    /// `total`), with this policy.
    armed: Mutex<Option<(u64, CrashPolicy)>>,
    report: Mutex<Option<CrashReport>>,
    /// The descriptors of every handle, closed at a crash.
    handles: Mutex<Vec<Weak<Shared>>>,
    /// The power-loss model, when on.
    power: Option<Mutex<power::Model>>,
    /// The next `sync_data` waits until `Op::Write` has been counted this
    /// many times (`hold_next_sync_until_writes`).
    held_sync: Mutex<Option<u64>>,
}

impl State {
    fn new(power: bool) -> State {
        State {
            no_allocation: AtomicBool::new(false),
            counts: Mutex::default(),
            rules: Mutex::default(),
            injected: Mutex::default(),
            last_injected: Mutex::default(),
            total: AtomicU64::new(0),
            alive: RwLock::new(true),
            armed: Mutex::default(),
            held_sync: Mutex::default(),
            report: Mutex::default(),
            handles: Mutex::default(),
            power: power.then(|| Mutex::new(power::Model::default())),
        }
    }
}

impl Default for State {
    fn default() -> State {
        State::new(false)
    }
}

fn dead() -> io::Error {
    io::Error::other("simulated crash: this handle or file system died with it")
}

/// A call in progress: holds the crash gate shared.
type Live<'a> = RwLockReadGuard<'a, bool>;

impl State {
    /// Counts the call, runs an armed crash if this is its call, and returns
    /// the gate guard with the fault to inject, if any.
    fn enter(&self, op: Op, path: &Path) -> io::Result<(Live<'_>, Option<FaultKind>)> {
        *self.counts.lock().entry(op).or_insert(0) += 1;
        let n = self.total.fetch_add(1, Ordering::SeqCst) + 1;
        let fire = {
            let mut armed = self.armed.lock();
            match *armed {
                Some((at, policy)) if at == n => {
                    *armed = None;
                    Some(policy)
                }
                _ => None,
            }
        };
        if let Some(policy) = fire {
            self.crash(policy, n - 1);
        }
        let live = self.live()?;
        Ok((live, self.check(op, path)))
    }

    /// The gate, for calls that are not counted.
    fn live(&self) -> io::Result<Live<'_>> {
        let g = self.alive.read();
        if *g {
            Ok(g)
        } else {
            Err(dead())
        }
    }

    /// Returns the fault to inject, if any.
    fn check(&self, op: Op, path: &Path) -> Option<FaultKind> {
        let mut rules = self.rules.lock();
        let path_str = path.to_string_lossy();
        let injected = *self.injected.lock();
        let pos = rules.iter_mut().position(|r| {
            r.op == op
                && r.path_contains
                    .as_deref()
                    .is_none_or(|s| path_str.contains(s))
                && r.after_injected.is_none_or(|n| injected > n)
                && {
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
        *self.last_injected.lock() = Some((op, path.to_owned(), kind));
        Some(kind)
    }

    /// `enter`, failing the call if a fault is injected.
    fn fail(&self, op: Op, path: &Path) -> io::Result<Live<'_>> {
        match self.enter(op, path)? {
            (_, Some(FaultKind::Errno(e))) | (_, Some(FaultKind::ShortWrite(e))) => {
                Err(io::Error::from_raw_os_error(e))
            }
            (live, None) => Ok(live),
        }
    }

    fn crash(&self, policy: CrashPolicy, ops_before: u64) -> CrashReport {
        let mut alive = self.alive.write();
        if !*alive {
            return self.report.lock().clone().unwrap_or_default();
        }
        *alive = false;
        for h in self.handles.lock().drain(..) {
            if let Some(h) = h.upgrade() {
                *h.file.write() = None;
            }
        }
        let report = match &self.power {
            Some(m) => {
                let mut m = m.lock();
                let r = m.crash(policy, ops_before).unwrap_or_else(|e| {
                    panic!("simulated power loss: rewriting the directory: {e}")
                });
                *m = power::Model::default();
                r
            }
            None => CrashReport {
                power_loss: false,
                ops_before,
                ..CrashReport::default()
            },
        };
        *self.report.lock() = Some(report.clone());
        report
    }

    /// Blocks the calling sync while `hold_next_sync_until_writes` says so
    /// (ten seconds at most: a test that expected writes that never come
    /// fails on its own assertions rather than hanging).
    fn wait_if_held(&self) {
        let Some(target) = self.held_sync.lock().take() else {
            return;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.counts.lock().get(&Op::Write).copied().unwrap_or(0) < target
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }

    /// A rename moves the names of the handles open on `from`.
    fn renamed(&self, from: &Path, to: &Path) {
        for h in self.handles.lock().iter().filter_map(Weak::upgrade) {
            let mut p = h.path.lock();
            if *p == from {
                *p = to.to_owned();
            }
        }
    }

    fn register(&self, f: &Arc<Shared>) {
        let mut hs = self.handles.lock();
        if hs.len() >= 64 && hs.len().is_power_of_two() {
            hs.retain(|w| w.strong_count() > 0);
        }
        hs.push(Arc::downgrade(f));
    }
}

/// The real file system with counters, injected failures and simulated
/// crashes. Clones share their counters, rules and fate, so a test keeps one
/// clone and hands the other to the store.
#[derive(Debug, Clone, Default)]
pub struct FaultVfs {
    state: Arc<State>,
}

impl FaultVfs {
    /// Counters and injected failures; a crash is a process crash.
    pub fn new() -> FaultVfs {
        FaultVfs::default()
    }

    /// As [`FaultVfs::new`], plus the power-loss model: what reached the
    /// disk is tracked, and a crash leaves only what a power cut could. It
    /// costs a copy of every byte written, so it is off unless asked for.
    pub fn with_power_loss() -> FaultVfs {
        FaultVfs {
            state: Arc::new(State::new(true)),
        }
    }

    /// A file system that cannot allocate ahead (`allocate` fails with
    /// `Unsupported`): a log's file then ends exactly where its records do,
    /// which tests that pin file lengths rely on.
    pub fn without_allocation(self) -> FaultVfs {
        self.state.no_allocation.store(true, Ordering::SeqCst);
        self
    }

    /// How many calls of `op` were made (failed ones included, except the
    /// call completing an injected short write, which fails without being
    /// counted: it is part of the one injected fault).
    pub fn count(&self, op: Op) -> u64 {
        self.state.counts.lock().get(&op).copied().unwrap_or(0)
    }

    /// How many calls of every kind were made (what [`FaultVfs::crash_at`]
    /// counts).
    pub fn total_ops(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        *self.state.injected.lock()
    }

    /// The call, path and fault of the last injected failure.
    pub fn last_injected(&self) -> Option<(Op, PathBuf, FaultKind)> {
        self.state.last_injected.lock().clone()
    }

    /// The next `sync_data` waits until `writes` more writes have been
    /// made, to any file through this file system (ten seconds at most, and
    /// a crash waits for it too) before it syncs: writers then certainly
    /// meet a sync in progress, as tests of group commit need, however
    /// fast the machine's fdatasync is.
    pub fn hold_next_sync_until_writes(&self, writes: u64) {
        *self.state.held_sync.lock() = Some(self.count(Op::Write) + writes);
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

    /// The next call of `op` after the next injected failure (of another
    /// rule) fails once: "the write fails, and so does the truncate that
    /// would roll it back".
    pub fn fail_next_after_fault(&self, op: Op, kind: FaultKind) {
        let after = *self.state.injected.lock();
        self.state.rules.lock().push(Rule {
            op,
            skip: 0,
            kind,
            persistent: false,
            path_contains: None,
            after_injected: Some(after),
        });
    }

    /// Removes every rule; counters are kept.
    pub fn clear(&self) {
        self.state.rules.lock().clear();
    }

    /// Crashes now: see the module comment. Returns what the crash did.
    /// A second crash does nothing and returns the first one's report.
    pub fn crash_now(&self, policy: CrashPolicy) -> CrashReport {
        self.state.crash(policy, self.total_ops())
    }

    /// A power loss now, each file's fate drawn from `seed`.
    pub fn power_loss(&self, seed: u64) -> CrashReport {
        self.crash_now(CrashPolicy::Random(seed))
    }

    /// Arms a crash just before the `nth` counted call from now (1: the
    /// next one): that call and every later one fail. Replaces any armed
    /// crash. [`FaultVfs::crash_report`] tells whether it happened.
    pub fn crash_at(&self, nth: u64, policy: CrashPolicy) {
        assert!(nth >= 1, "nth counts from 1");
        *self.state.armed.lock() = Some((self.total_ops() + nth, policy));
    }

    /// Whether a crash happened (every call now fails).
    pub fn crashed(&self) -> bool {
        !*self.state.alive.read()
    }

    /// The report of the crash, once it happened.
    pub fn crash_report(&self) -> Option<CrashReport> {
        self.state.report.lock().clone()
    }

    fn push(&self, op: Op, nth: u64, kind: FaultKind, persistent: bool, path: Option<&str>) {
        assert!(nth >= 1, "nth counts from 1");
        self.state.rules.lock().push(Rule {
            op,
            skip: nth - 1,
            kind,
            persistent,
            path_contains: path.map(str::to_owned),
            after_injected: None,
        });
    }
}

pub struct FaultFile {
    /// None once a crash closed it.
    inner: Arc<Shared>,
    state: Arc<State>,
    /// The file in the power-loss model.
    ino: Option<u64>,
    /// Set after an injected short write: the next write fails.
    short_pending: AtomicBool,
    short_errno: Mutex<i32>,
}

impl FaultFile {
    /// The file's name now.
    fn path(&self) -> PathBuf {
        self.inner.path.lock().clone()
    }

    /// Runs `f` on the real file (the gate is held by the caller).
    fn real<T>(&self, f: impl FnOnce(&StdFile) -> io::Result<T>) -> io::Result<T> {
        match &*self.inner.file.read() {
            Some(file) => f(file),
            None => Err(dead()),
        }
    }

    fn model(&self) -> Option<(parking_lot::MutexGuard<'_, power::Model>, u64)> {
        Some((self.state.power.as_ref()?.lock(), self.ino?))
    }

    /// A sync of this file, recorded in the model when it succeeds.
    fn sync(&self, f: impl FnOnce(&StdFile) -> io::Result<()>) -> io::Result<()> {
        let mark = self.model().map(|(mut m, _)| m.sync_mark());
        self.real(f)?;
        if let (Some(mark), Some((mut m, ino))) = (mark, self.model()) {
            m.synced(ino, mark);
        }
        Ok(())
    }

    /// A write of `buf` at `offset`, recorded in the model.
    fn write_real(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match self.model() {
            Some((mut m, ino)) => {
                let n = self.real(|f| f.write_at(buf, offset))?;
                m.wrote(ino, offset, &buf[..n]);
                Ok(n)
            }
            None => self.real(|f| f.write_at(buf, offset)),
        }
    }
}

impl Vfs for FaultVfs {
    type File = FaultFile;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<FaultFile> {
        let _live = self.state.fail(Op::Open, path)?;
        let (inner, ino) = match &self.state.power {
            Some(m) => {
                let mut m = m.lock();
                m.before_open(path);
                let f = StdVfs.open(path, mode)?;
                (f, m.opened(path, mode))
            }
            None => (StdVfs.open(path, mode)?, None),
        };
        let inner = Arc::new(Shared {
            file: RwLock::new(Some(inner)),
            path: Mutex::new(path.to_owned()),
        });
        self.state.register(&inner);
        Ok(FaultFile {
            inner,
            state: self.state.clone(),
            ino,
            short_pending: AtomicBool::new(false),
            short_errno: Mutex::new(0),
        })
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let _live = self.state.fail(Op::CreateDir, path)?;
        match &self.state.power {
            Some(m) => {
                let mut m = m.lock();
                let missing = m.before_create_dirs(path);
                StdVfs.create_dir_all(path)?;
                m.created_dirs(&missing);
                Ok(())
            }
            None => StdVfs.create_dir_all(path),
        }
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let _live = self.state.fail(Op::ListDir, path)?;
        StdVfs.list_dir(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _live = self.state.fail(Op::Rename, from)?;
        match &self.state.power {
            Some(m) => {
                let mut m = m.lock();
                m.before_rename(from, to);
                StdVfs.rename(from, to)?;
                m.renamed(from, to);
            }
            None => StdVfs.rename(from, to)?,
        }
        self.state.renamed(from, to);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let _live = self.state.fail(Op::Remove, path)?;
        match &self.state.power {
            Some(m) => {
                let mut m = m.lock();
                m.before_remove(path);
                StdVfs.remove_file(path)?;
                m.removed(path);
                Ok(())
            }
            None => StdVfs.remove_file(path),
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let _live = self.state.fail(Op::SyncDir, path)?;
        let mark = self
            .state
            .power
            .as_ref()
            .map(|m| m.lock().before_sync_dir(path));
        StdVfs.sync_dir(path)?;
        if let (Some(mark), Some(m)) = (mark, &self.state.power) {
            m.lock().dir_synced(path, mark);
        }
        Ok(())
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        let _live = self.state.live()?;
        StdVfs.is_dir(path)
    }
}

impl VfsFile for FaultFile {
    fn len(&self) -> io::Result<u64> {
        let _live = self.state.live()?;
        self.real(|f| f.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let _live = self.state.fail(Op::Read, &self.path())?;
        self.real(|f| f.read_at(buf, offset))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if self.short_pending.swap(false, Ordering::SeqCst) {
            let _live = self.state.live()?;
            return Err(io::Error::from_raw_os_error(*self.short_errno.lock()));
        }
        let (_live, fault) = self.state.enter(Op::Write, &self.path())?;
        match fault {
            None => self.write_real(buf, offset),
            Some(FaultKind::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
            Some(FaultKind::ShortWrite(e)) => {
                *self.short_errno.lock() = e;
                self.short_pending.store(true, Ordering::SeqCst);
                self.write_real(&buf[..buf.len() / 2], offset)
            }
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let _live = self.state.fail(Op::SetLen, &self.path())?;
        match self.model() {
            Some((mut m, ino)) => {
                self.real(|f| f.set_len(len))?;
                m.set_len(ino, len);
                Ok(())
            }
            None => self.real(|f| f.set_len(len)),
        }
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let _live = self.state.fail(Op::Allocate, &self.path())?;
        if self.state.no_allocation.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::Unsupported.into());
        }
        match self.model() {
            Some((mut m, ino)) => {
                let before = self.real(|f| f.len())?;
                self.real(|f| f.allocate(offset, len))?;
                if offset + len > before {
                    m.set_len(ino, offset + len);
                }
                Ok(())
            }
            None => self.real(|f| f.allocate(offset, len)),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        let _live = self.state.fail(Op::SyncData, &self.path())?;
        self.state.wait_if_held();
        self.sync(|f| f.sync_data())
    }

    fn sync_all(&self) -> io::Result<()> {
        let _live = self.state.fail(Op::SyncAll, &self.path())?;
        self.sync(|f| f.sync_all())
    }

    fn try_lock(&self, exclusive: bool) -> io::Result<bool> {
        let _live = self.state.fail(Op::Lock, &self.path())?;
        self.real(|f| f.try_lock(exclusive))
    }

    fn read_exact_at2(&self, head: &mut [u8], body: &mut [u8], offset: u64) -> io::Result<()> {
        let _live = self.state.fail(Op::Read, &self.path())?;
        self.real(|f| f.read_exact_at2(head, body, offset))
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

    fn read(p: &Path) -> Option<Vec<u8>> {
        std::fs::read(p).ok()
    }

    #[test]
    fn power_loss_keeps_synced_bytes_and_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let vfs = FaultVfs::with_power_loss();
        let a = vfs.open(&d.join("a"), OpenMode::CreateNew).unwrap();
        a.write_all_at(b"durable", 0).unwrap();
        a.sync_data().unwrap();
        vfs.sync_dir(d).unwrap();
        a.write_all_at(b"+lost", 7).unwrap();
        let b = vfs.open(&d.join("b"), OpenMode::CreateNew).unwrap();
        b.write_all_at(b"synced, name not", 0).unwrap();
        b.sync_all().unwrap();
        let r = vfs.crash_now(CrashPolicy::Every(FileCrash::Drop, 1));
        assert!(r.power_loss);
        assert_eq!(read(&d.join("a")).unwrap(), b"durable");
        assert_eq!(read(&d.join("b")), None, "{r}");
        assert_eq!(r.file(&d.join("a")).unwrap().treatment, FileCrash::Drop);
        // Old handles and clones are dead; their descriptors are closed.
        assert!(a.write_at(b"x", 0).is_err());
        assert!(a.len().is_err());
        assert!(vfs.list_dir(d).is_err());
        assert!(vfs.crashed());
    }

    #[test]
    fn power_loss_reverts_unsynced_rename_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("old"), b"old").unwrap();
        let vfs = FaultVfs::with_power_loss();
        let t = vfs.open(&d.join("new.tmp"), OpenMode::CreateNew).unwrap();
        t.write_all_at(b"new", 0).unwrap();
        t.sync_all().unwrap();
        vfs.sync_dir(d).unwrap();
        vfs.rename(&d.join("new.tmp"), &d.join("new")).unwrap();
        vfs.remove_file(&d.join("old")).unwrap();
        let r = vfs.crash_now(CrashPolicy::Every(FileCrash::KeepAll, 2));
        assert_eq!(read(&d.join("new.tmp")).unwrap(), b"new", "{r}");
        assert_eq!(read(&d.join("new")), None);
        assert_eq!(read(&d.join("old")).unwrap(), b"old");
    }

    #[test]
    fn power_loss_treatments_of_unsynced_appends() {
        for (t, want) in [
            (FileCrash::Drop, b"base".to_vec()),
            (FileCrash::KeepAll, b"base0123456789".to_vec()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f");
            std::fs::write(&p, b"base").unwrap();
            let vfs = FaultVfs::with_power_loss();
            let f = vfs.open(&p, OpenMode::ReadWrite).unwrap();
            f.write_all_at(b"01234", 4).unwrap();
            f.write_all_at(b"56789", 9).unwrap();
            vfs.crash_now(CrashPolicy::Every(t, 3));
            assert_eq!(read(&p).unwrap(), want, "{t:?}");
        }
        for seed in 0..200 {
            for t in [FileCrash::Prefix, FileCrash::Zeros, FileCrash::Garbage] {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("f");
                std::fs::write(&p, b"base").unwrap();
                let vfs = FaultVfs::with_power_loss();
                let f = vfs.open(&p, OpenMode::ReadWrite).unwrap();
                f.write_all_at(b"01234", 4).unwrap();
                f.write_all_at(b"56789", 9).unwrap();
                let r = vfs.crash_now(CrashPolicy::Every(t, seed));
                let got = read(&p).unwrap();
                let o = r.file(&p).unwrap();
                let kept = (o.kept_ops * 5) as usize + o.kept_partial_bytes as usize;
                assert!(kept <= 10);
                assert_eq!(&got[..4 + kept], &b"base0123456789"[..4 + kept]);
                match t {
                    FileCrash::Prefix => assert_eq!(got.len(), 4 + kept),
                    FileCrash::Zeros => {
                        assert_eq!(got.len(), 14);
                        assert!(got[4 + kept..].iter().all(|b| *b == 0));
                    }
                    _ => assert_eq!(got.len(), 14),
                }
            }
        }
    }

    #[test]
    fn armed_crash_fires_before_the_nth_call_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        let vfs = FaultVfs::with_power_loss();
        let f = vfs.open(&p, OpenMode::ReadWriteCreate).unwrap();
        assert!(f.try_lock(true).unwrap());
        vfs.crash_at(2, CrashPolicy::Random(7));
        assert_eq!(f.write_at(b"x", 0).unwrap(), 1);
        assert!(!vfs.crashed());
        assert!(f.sync_data().is_err());
        assert!(vfs.crashed());
        assert_eq!(vfs.crash_report().unwrap().ops_before, 3);
        // The crash closed the descriptor: a new open can lock.
        let v2 = FaultVfs::with_power_loss();
        let g = v2.open(&p, OpenMode::ReadWriteCreate).unwrap();
        assert!(g.try_lock(true).unwrap());
    }

    #[test]
    fn process_crash_keeps_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let vfs = FaultVfs::new();
        let f = vfs.open(&p, OpenMode::CreateNew).unwrap();
        f.write_all_at(b"unsynced", 0).unwrap();
        let r = vfs.crash_now(CrashPolicy::Random(1));
        assert!(!r.power_loss);
        assert_eq!(read(&p).unwrap(), b"unsynced");
        assert!(f.read_at(&mut [0u8; 4], 0).is_err());
    }
}
