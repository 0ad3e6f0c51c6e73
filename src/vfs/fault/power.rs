//! Simulated power loss for [`super::FaultVfs`], in the manner of LevelDB's
//! `FaultInjectionTestEnv` and SQLite's crash VFS.
//!
//! # Design
//!
//! The real directory stays the *page cache*: every call still goes through
//! to the real file system, so everything that reads the directory (the
//! store, `std::fs`, a later `StdVfs` open) sees what a running system would
//! see. Beside it, this model keeps in memory what a power loss could not
//! take away:
//!
//! - per file (per inode, so that a rename moves it), the bytes that were
//!   there when the last successful `sync_data` / `sync_all` of that file
//!   began, and the list of writes and size changes made since, in order;
//! - per directory, the names (with the inode each points to) as of the last
//!   successful `sync_dir` of it, and the creates, renames, removes and
//!   `mkdir`s made since, in order.
//!
//! At a crash the model computes one state the disk could be in after a
//! power cut, rewrites the real directory to it, and forgets everything: the
//! new directory contents are, by definition, what is on the disk, all of it
//! durable. Every handle opened before the crash, and every clone of the
//! `FaultVfs` that was in use, is dead from then on.
//!
//! # What a crash leaves (the model's assumptions)
//!
//! These model POSIX plus Linux ext4 (`data=ordered`, the default) on a drive
//! that honours cache flushes; they are the assumptions of `docs/FORMAT.md`
//! §1, except where "garbage" goes further (below).
//!
//! 1. A successful `sync_data` or `sync_all` of a file makes every byte
//!    written to it before the call began, and its size, durable. Both are
//!    treated alike: Linux's `fdatasync` flushes a size change, a shrink
//!    included, because the size is needed to read the data back. Writes
//!    racing with the sync are treated as not covered by it.
//! 2. A failed sync makes nothing durable.
//! 3. For each file, what was written since its last sync is dealt with in
//!    one of five ways, chosen from a seeded RNG:
//!    - `Drop`: all of it is lost (the file is as at its last sync);
//!    - `KeepAll`: all of it reached the disk;
//!    - `Prefix`: the writes and size changes persist in the order they were
//!      made, up to a random point, which may fall inside a write (its first
//!      bytes persist, the rest does not);
//!    - `Zeros`: as `Prefix`, but the size changes after that point persist
//!      and the bytes of the later writes read back as zeros (ext4 delayed
//!      allocation: the size reached the disk before the data);
//!    - `Garbage`: as `Zeros`, but the later writes' bytes read back as
//!      random bytes (a torn sector, stale blocks; SQLite's crash VFS).
//!      This is harsher than FORMAT §1, which allows only zeros or older
//!      contents: in a file that was never synced (a new log whose creation
//!      was cut short) garbage can stand where a header should be.
//!
//!    Bytes a write did not touch never change (FORMAT §1, assumption 5),
//!    and writes persist in order. Out-of-order persistence of unsynced
//!    writes (a later write surviving an earlier one), which FORMAT §9.1
//!    lists as a known limit, is not modelled.
//! 4. A created, renamed or removed name, or a created directory, is durable
//!    only after a successful `sync_dir` of its directory. At a crash, each
//!    directory keeps a random prefix of its operations since its last
//!    `sync_dir` (half of the time none of them: a new file that was never
//!    made durable disappears, a rename reverts, a removed file comes back
//!    with its last synced contents). Metadata journaling (ext4's jbd2)
//!    commits directory operations in order, so later ones never persist
//!    without earlier ones. A name's persistence is independent of its
//!    file's data: a new name can persist over an empty or partial file.
//! 5. A file's data survives as long as some durable name points to it,
//!    even if its name was removed or renamed and that was not made durable.
//! 6. Only what goes through the `FaultVfs` is seen. A directory is taken in
//!    as durable, contents and names, the first time the model touches it;
//!    files created in it behind the model's back are left alone at a crash.
//!    Renames across directories are recorded as a removal in one and a
//!    create in the other, so a crash can keep both names.
//!
//! Everything is keyed by the path as the caller spelled it (`dir.join(name)`),
//! which is how the engine builds every path.

use super::super::OpenMode;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A small, fast, seeded RNG (splitmix64): crash choices are reproducible
/// from a seed without a dependency.
#[derive(Debug, Clone)]
pub struct CrashRng(u64);

impl CrashRng {
    pub fn new(seed: u64) -> CrashRng {
        CrashRng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// What a crash did to the unsynced part of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileCrash {
    /// Nothing was unsynced.
    Clean,
    Drop,
    KeepAll,
    Prefix,
    Zeros,
    Garbage,
}

impl FileCrash {
    const LOSSY: [FileCrash; 5] = [
        FileCrash::Drop,
        FileCrash::KeepAll,
        FileCrash::Prefix,
        FileCrash::Zeros,
        FileCrash::Garbage,
    ];
}

/// How a crash picks what each file and directory keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Each file's treatment and cut point, and each directory's kept
    /// prefix, drawn from an RNG with this seed.
    Random(u64),
    /// Every file gets this treatment (cut points, where the treatment has
    /// one, and garbage bytes still come from the seed); every directory
    /// loses all its operations since its last `sync_dir`.
    Every(FileCrash, u64),
}

/// One file as a crash left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The names it has after the crash (none: it is gone).
    pub paths: Vec<PathBuf>,
    pub treatment: FileCrash,
    /// Whether any sync of it ever succeeded while the model watched (a file
    /// that was there before the model first looked counts as synced).
    pub ever_synced: bool,
    /// Writes and size changes made since its last sync.
    pub unsynced_ops: usize,
    pub unsynced_bytes: u64,
    /// How many of those ops persisted whole, and how many bytes of the op
    /// cut in the middle (for Prefix, Zeros, Garbage).
    pub kept_ops: usize,
    pub kept_partial_bytes: u64,
    /// Its size before (page cache) and after the crash.
    pub size_before: u64,
    pub size_after: u64,
}

/// One directory as a crash left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOutcome {
    pub path: PathBuf,
    /// Creates, renames, removes and mkdirs since its last `sync_dir`.
    pub unsynced_ops: usize,
    /// How many of them (a prefix) persisted.
    pub kept_ops: usize,
    /// Names present before the crash that are gone after it.
    pub vanished: Vec<String>,
    /// Names absent before the crash that are back after it.
    pub reappeared: Vec<String>,
}

/// What a simulated crash did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// False for a `FaultVfs` without the power-loss model: the crash only
    /// killed the handles, and the files stay as the page cache had them (a
    /// process crash).
    pub power_loss: bool,
    /// The number of file operations counted before the crash (the crash
    /// happened just before operation `ops_before + 1`).
    pub ops_before: u64,
    pub files: Vec<FileOutcome>,
    pub dirs: Vec<DirOutcome>,
}

impl CrashReport {
    /// The outcome of the file that has `path` among its names after the
    /// crash, or had it before.
    pub fn file(&self, path: &Path) -> Option<&FileOutcome> {
        self.files
            .iter()
            .find(|f| f.paths.iter().any(|p| p == path))
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "crash after {} ops ({})",
            self.ops_before,
            if self.power_loss {
                "power loss"
            } else {
                "process crash"
            }
        )?;
        for d in &self.dirs {
            writeln!(
                f,
                "  dir {}: kept {}/{} unsynced ops; vanished {:?}; reappeared {:?}",
                d.path.display(),
                d.kept_ops,
                d.unsynced_ops,
                d.vanished,
                d.reappeared
            )?;
        }
        for x in &self.files {
            writeln!(
                f,
                "  file {:?}: {:?}, ever synced {}, unsynced {} ops / {} bytes, kept {} ops + {} bytes, size {} -> {}",
                x.paths, x.treatment, x.ever_synced, x.unsynced_ops, x.unsynced_bytes,
                x.kept_ops, x.kept_partial_bytes, x.size_before, x.size_after
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, Entry),
    Unlink(String),
    Rename(String, String),
}

impl DirOp {
    fn apply(&self, names: &mut BTreeMap<String, Entry>) {
        match self {
            DirOp::Link(n, e) => {
                names.insert(n.clone(), *e);
            }
            DirOp::Unlink(n) => {
                names.remove(n);
            }
            DirOp::Rename(from, to) => {
                if let Some(e) = names.remove(from) {
                    names.insert(to.clone(), e);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct DirState {
    durable: BTreeMap<String, Entry>,
    current: BTreeMap<String, Entry>,
    /// (sequence number, op) since the last sync_dir, in order.
    pending: Vec<(u64, DirOp)>,
}

#[derive(Debug, Clone)]
enum DataOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

impl DataOp {
    fn bytes(&self) -> u64 {
        match self {
            DataOp::Write(_, d) => d.len() as u64,
            DataOp::SetLen(_) => 0,
        }
    }
}

fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let off = offset as usize;
    if data.len() < off + bytes.len() {
        data.resize(off + bytes.len(), 0);
    }
    data[off..off + bytes.len()].copy_from_slice(bytes);
}

fn apply_op(data: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write(off, bytes) => write_into(data, *off, bytes),
        DataOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    pending: Vec<(u64, DataOp)>,
    ever_synced: bool,
}

/// The durable shadow of every file and directory the `FaultVfs` touched.
#[derive(Debug, Default)]
pub(super) struct Model {
    dirs: BTreeMap<PathBuf, DirState>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    /// Sequence numbers for pending ops (files and directories).
    next_seq: u64,
}

fn split(path: &Path) -> Option<(PathBuf, String)> {
    let name = path.file_name()?.to_str()?.to_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

impl Model {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn new_inode(&mut self, durable: Vec<u8>, ever_synced: bool) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(
            self.next_ino,
            Inode {
                durable,
                pending: Vec::new(),
                ever_synced,
            },
        );
        self.next_ino
    }

    /// Takes a directory in, as durable, the first time it is touched.
    fn dir(&mut self, dir: &Path) -> &mut DirState {
        if !self.dirs.contains_key(dir) {
            let mut names = BTreeMap::new();
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    let (Ok(name), Ok(ft)) = (e.file_name().into_string(), e.file_type()) else {
                        continue;
                    };
                    if ft.is_dir() {
                        names.insert(name, Entry::Dir);
                    } else if ft.is_file() {
                        let data = fs::read(e.path()).unwrap_or_default();
                        let ino = self.new_inode(data, true);
                        names.insert(name, Entry::File(ino));
                    }
                }
            }
            self.dirs.insert(
                dir.to_owned(),
                DirState {
                    durable: names.clone(),
                    current: names,
                    pending: Vec::new(),
                },
            );
        }
        self.dirs.get_mut(dir).expect("inserted")
    }

    fn dir_op(&mut self, dir: &Path, op: DirOp) {
        let seq = self.seq();
        let d = self.dir(dir);
        op.apply(&mut d.current);
        d.pending.push((seq, op));
    }

    /// Must be called before the real open: takes the directory in while the
    /// file is not yet created.
    pub(super) fn before_open(&mut self, path: &Path) {
        if let Some((dir, _)) = split(path) {
            self.dir(&dir);
        }
    }

    /// After a successful real open: the file's inode, created if the open
    /// created the name.
    pub(super) fn opened(&mut self, path: &Path, mode: OpenMode) -> Option<u64> {
        let (dir, name) = split(path)?;
        match self.dir(&dir).current.get(&name).copied() {
            Some(Entry::File(ino)) if mode != OpenMode::CreateNew => Some(ino),
            Some(Entry::Dir) => None,
            _ => {
                let ino = self.new_inode(Vec::new(), false);
                self.dir_op(&dir, DirOp::Link(name, Entry::File(ino)));
                Some(ino)
            }
        }
    }

    pub(super) fn wrote(&mut self, ino: u64, offset: u64, bytes: &[u8]) {
        let seq = self.seq();
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.pending.push((seq, DataOp::Write(offset, bytes.to_vec())));
        }
    }

    pub(super) fn set_len(&mut self, ino: u64, len: u64) {
        let seq = self.seq();
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.pending.push((seq, DataOp::SetLen(len)));
        }
    }

    /// The sequence number a sync starting now covers (everything below).
    pub(super) fn sync_mark(&mut self) -> u64 {
        self.seq()
    }

    /// A sync of the file that started at `mark` succeeded.
    pub(super) fn synced(&mut self, ino: u64, mark: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            let n = i.pending.iter().take_while(|(s, _)| *s < mark).count();
            for (_, op) in i.pending.drain(..n) {
                apply_op(&mut i.durable, &op);
            }
            i.ever_synced = true;
        }
    }

    /// Before the real sync of a directory: takes it in if needed.
    pub(super) fn before_sync_dir(&mut self, dir: &Path) -> u64 {
        self.dir(dir);
        self.seq()
    }

    pub(super) fn dir_synced(&mut self, dir: &Path, mark: u64) {
        let d = self.dir(dir);
        let n = d.pending.iter().take_while(|(s, _)| *s < mark).count();
        for (_, op) in d.pending.drain(..n) {
            op.apply(&mut d.durable);
        }
    }

    pub(super) fn before_rename(&mut self, from: &Path, to: &Path) {
        for p in [from, to] {
            if let Some((dir, _)) = split(p) {
                self.dir(&dir);
            }
        }
    }

    pub(super) fn renamed(&mut self, from: &Path, to: &Path) {
        let (Some((fd, fname)), Some((td, tname))) = (split(from), split(to)) else {
            return;
        };
        if fd == td {
            self.dir_op(&fd, DirOp::Rename(fname, tname));
        } else if let Some(e) = self.dir(&fd).current.get(&fname).copied() {
            self.dir_op(&fd, DirOp::Unlink(fname));
            self.dir_op(&td, DirOp::Link(tname, e));
        }
    }

    pub(super) fn before_remove(&mut self, path: &Path) {
        if let Some((dir, _)) = split(path) {
            self.dir(&dir);
        }
    }

    pub(super) fn removed(&mut self, path: &Path) {
        if let Some((dir, name)) = split(path) {
            self.dir_op(&dir, DirOp::Unlink(name));
        }
    }

    /// The directories `create_dir_all(path)` is about to create, topmost
    /// first; their parents are taken in now, before they exist.
    pub(super) fn before_create_dirs(&mut self, path: &Path) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_owned)
            .collect();
        missing.reverse();
        for m in &missing {
            if let Some((parent, _)) = split(m) {
                if !missing.contains(&parent) {
                    self.dir(&parent);
                }
            }
        }
        missing
    }

    pub(super) fn created_dirs(&mut self, created: &[PathBuf]) {
        for c in created {
            if let Some((parent, name)) = split(c) {
                self.dir_op(&parent, DirOp::Link(name, Entry::Dir));
            }
            self.dirs.entry(c.clone()).or_default();
        }
    }

    /// Computes a post-crash state, writes it into the real directories and
    /// returns what it did. The model must be dropped afterwards.
    pub(super) fn crash(
        &mut self,
        policy: CrashPolicy,
        ops_before: u64,
    ) -> io::Result<CrashReport> {
        let (mut rng, fixed) = match policy {
            CrashPolicy::Random(s) => (CrashRng::new(s), None),
            CrashPolicy::Every(t, s) => (CrashRng::new(s), Some(t)),
        };
        let mut report = CrashReport {
            power_loss: true,
            ops_before,
            ..CrashReport::default()
        };
        // 1. Each directory keeps a prefix of its unsynced operations.
        let mut finals: BTreeMap<PathBuf, BTreeMap<String, Entry>> = BTreeMap::new();
        for (path, d) in &self.dirs {
            let n = d.pending.len();
            let keep = match fixed {
                Some(_) => 0,
                None if n == 0 || rng.below(2) == 0 => 0,
                None => rng.below(n as u64 + 1) as usize,
            };
            let mut names = d.durable.clone();
            for (_, op) in &d.pending[..keep] {
                op.apply(&mut names);
            }
            report.dirs.push(DirOutcome {
                path: path.clone(),
                unsynced_ops: n,
                kept_ops: keep,
                vanished: d
                    .current
                    .keys()
                    .filter(|k| !names.contains_key(*k))
                    .cloned()
                    .collect(),
                reappeared: names
                    .keys()
                    .filter(|k| !d.current.contains_key(*k))
                    .cloned()
                    .collect(),
            });
            finals.insert(path.clone(), names);
        }
        // A directory whose own name did not survive is gone with all it
        // holds.
        let removed_dirs: Vec<PathBuf> = finals
            .iter()
            .flat_map(|(parent, names)| {
                let d = &self.dirs[parent];
                d.current
                    .iter()
                    .filter(|(n, e)| **e == Entry::Dir && !names.contains_key(*n))
                    .map(|(n, _)| parent.join(n))
                    .collect::<Vec<_>>()
            })
            .collect();

        // 2. Each file's contents after the crash (once per inode).
        let mut contents: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut names_of: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
        for (dir, names) in &finals {
            if removed_dirs.iter().any(|r| dir.starts_with(r)) {
                continue;
            }
            for (name, e) in names {
                if let Entry::File(ino) = e {
                    names_of.entry(*ino).or_default().push(dir.join(name));
                }
            }
        }
        for (ino, paths) in &names_of {
            let inode = &self.inodes[ino];
            let (data, outcome) = crash_file(inode, fixed, &mut rng, paths.clone());
            contents.insert(*ino, data);
            report.files.push(outcome);
        }

        // 3. Rewrite the real directories: deepest first, so that a
        //    directory removed whole goes after its contents were written.
        let mut order: Vec<&PathBuf> = finals.keys().collect();
        order.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in order {
            if removed_dirs.iter().any(|r| dir.starts_with(r)) {
                continue;
            }
            let d = &self.dirs[dir];
            let names = &finals[dir];
            if !dir.is_dir() {
                fs::create_dir_all(dir)?;
            }
            // Every file name the model knows, before or after: remove it,
            // then write the survivors afresh (new inodes: the dead
            // handles' descriptors and locks are not theirs).
            for (name, e) in d.current.iter().chain(names.iter()) {
                if *e != Entry::Dir {
                    match fs::remove_file(dir.join(name)) {
                        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                        _ => {}
                    }
                }
            }
            for (name, e) in names {
                match e {
                    Entry::File(ino) => fs::write(dir.join(name), &contents[ino])?,
                    Entry::Dir => {
                        if !dir.join(name).is_dir() {
                            fs::create_dir(dir.join(name))?;
                        }
                    }
                }
            }
        }
        for r in &removed_dirs {
            match fs::remove_dir_all(r) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        report.files.sort_by(|a, b| a.paths.cmp(&b.paths));
        Ok(report)
    }
}

/// One file after the crash.
fn crash_file(
    inode: &Inode,
    fixed: Option<FileCrash>,
    rng: &mut CrashRng,
    paths: Vec<PathBuf>,
) -> (Vec<u8>, FileOutcome) {
    let ops: Vec<&DataOp> = inode.pending.iter().map(|(_, op)| op).collect();
    let mut current = inode.durable.clone();
    for op in &ops {
        apply_op(&mut current, op);
    }
    let mut outcome = FileOutcome {
        paths,
        treatment: FileCrash::Clean,
        ever_synced: inode.ever_synced,
        unsynced_ops: ops.len(),
        unsynced_bytes: ops.iter().map(|o| o.bytes()).sum(),
        kept_ops: 0,
        kept_partial_bytes: 0,
        size_before: current.len() as u64,
        size_after: 0,
    };
    let mut data = inode.durable.clone();
    if !ops.is_empty() {
        let t = fixed.unwrap_or_else(|| FileCrash::LOSSY[rng.below(5) as usize]);
        outcome.treatment = t;
        match t {
            FileCrash::Clean | FileCrash::Drop => {}
            FileCrash::KeepAll => {
                data = current;
                outcome.kept_ops = ops.len();
            }
            FileCrash::Prefix | FileCrash::Zeros | FileCrash::Garbage => {
                let k = rng.below(ops.len() as u64 + 1) as usize;
                for op in &ops[..k] {
                    apply_op(&mut data, op);
                }
                outcome.kept_ops = k;
                // The first write not kept whole: keep the start of it.
                let mut rest_from = k;
                if let Some(DataOp::Write(off, bytes)) = ops.get(k) {
                    let b = rng.below(bytes.len() as u64 + 1) as usize;
                    let b = b.min(bytes.len().saturating_sub(1));
                    write_into(&mut data, *off, &bytes[..b]);
                    outcome.kept_partial_bytes = b as u64;
                    if t != FileCrash::Prefix {
                        let mut fill = vec![0u8; bytes.len() - b];
                        if t == FileCrash::Garbage {
                            fill.iter_mut().for_each(|x| *x = rng.next_u64() as u8);
                        }
                        write_into(&mut data, off + b as u64, &fill);
                    }
                    rest_from = k + 1;
                }
                if t != FileCrash::Prefix {
                    for op in &ops[rest_from.min(ops.len())..] {
                        match op {
                            DataOp::SetLen(_) => apply_op(&mut data, op),
                            DataOp::Write(off, bytes) => {
                                let mut fill = vec![0u8; bytes.len()];
                                if t == FileCrash::Garbage {
                                    fill.iter_mut().for_each(|x| *x = rng.next_u64() as u8);
                                }
                                write_into(&mut data, *off, &fill);
                            }
                        }
                    }
                }
            }
        }
    }
    outcome.size_after = data.len() as u64;
    (data, outcome)
}
