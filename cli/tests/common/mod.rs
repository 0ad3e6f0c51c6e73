//! Shared by the integration tests: stores built with the library, the
//! built `walstore` binary, and a byte-for-byte picture of a directory.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;
use walstore::{Options, Store};

/// A child that this test process starts holds a copy of every descriptor of
/// the process until it execs: the `LOCK` descriptor of a store that another
/// test thread has open included. If that thread closes its store meanwhile,
/// the `flock` outlives the close until the child execs, and a run that
/// expects the store to be free finds it locked (README: fork caveat). So
/// every start of a child and every close of a store hold this lock: a
/// close then never overlaps a child that has not exec'd yet.
static CHILDREN_AND_CLOSES: Mutex<()> = Mutex::new(());

pub fn serialised() -> MutexGuard<'static, ()> {
    CHILDREN_AND_CLOSES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Closes a store opened in the test process (see `serialised`).
pub fn close(store: Store) {
    let _g = serialised();
    store.close().unwrap();
}

/// Opens the store in `dir` in the test process, runs `f` on the open
/// result and closes the store again (see `serialised`).
pub fn with_open<T>(
    dir: &Path,
    opts: &Options,
    f: impl FnOnce(walstore::Result<&Store>) -> T,
) -> T {
    let _g = serialised();
    match Store::open(dir, opts) {
        Ok(store) => {
            let r = f(Ok(&store));
            store.close().unwrap();
            r
        }
        Err(e) => f(Err(e)),
    }
}

pub const LOG: &str = "wal-0000000000000001.log";

/// What a run of the binary gave.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }
}

/// Runs the built binary with `args`, stdin closed, and checks that the
/// store directory `dir` is byte-for-byte what it was before.
pub fn walstore<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Run {
    let before = picture(dir);
    let run = walstore_anywhere(args);
    assert_eq!(
        picture(dir),
        before,
        "walstore {:?} changed the store directory",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>()
    );
    run
}

/// Runs the built binary with `args`, with no store directory to watch.
pub fn walstore_anywhere<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let _g = serialised();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_walstore"))
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run the walstore binary");
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Every file in `dir` (names are flat: walstore makes no subdirectories):
/// its bytes, length and modification time. A directory that does not
/// exist pictures as empty.
pub fn picture(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for e in entries {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        assert!(meta.is_file(), "{:?} is not a file", e.path());
        files.insert(
            e.file_name().into_string().unwrap(),
            (fs::read(e.path()).unwrap(), meta.modified().unwrap()),
        );
    }
    files
}

/// A new store in a new temporary directory, filled by `fill`, closed.
pub fn store_with(fill: impl FnOnce(&Store)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, &Options::default()).unwrap();
    fill(&store);
    close(store);
    (tmp, dir)
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG)
}

/// The log identity, from the file header (bytes 16..24).
pub fn log_id(dir: &Path) -> u64 {
    let b = fs::read(log_path(dir)).unwrap();
    u64::from_le_bytes(b[16..24].try_into().unwrap())
}

/// Flips the low bit of the log byte at `offset`.
pub fn flip(dir: &Path, offset: u64) {
    let p = log_path(dir);
    let mut b = fs::read(&p).unwrap();
    b[offset as usize] ^= 1;
    fs::write(&p, b).unwrap();
}

pub fn truncate(dir: &Path, len: u64) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(log_path(dir))
        .unwrap();
    f.set_len(len).unwrap();
}

/// The payload CRC of `payload` in this store's log, as `{:#010x}`.
pub fn crc(dir: &Path, payload: &[u8]) -> String {
    format!(
        "{:#010x}",
        walstore::format::payload_crc(log_id(dir), payload)
    )
}

/// `stats` prints the open time, which varies: checks that line's form
/// (`open time:` padded to 21 columns, a number with three decimals, `ms`)
/// and returns the other lines.
pub fn without_open_time(stdout: &str) -> String {
    let mut kept = String::new();
    let mut seen = 0;
    for line in stdout.lines() {
        if let Some(v) = line.strip_prefix("open time:           ") {
            let ms = v.strip_suffix(" ms").expect("open time ends in ms");
            let (whole, frac) = ms.split_once('.').expect("a decimal point");
            assert!(!whole.is_empty() && whole.bytes().all(|c| c.is_ascii_digit()));
            assert!(frac.len() == 3 && frac.bytes().all(|c| c.is_ascii_digit()));
            seen += 1;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert_eq!(seen, 1, "one open time line in {stdout:?}");
    kept
}

/// 1 "hello"; a batch of 2, 3 and 4 (empty); delete 2; 5 with every byte
/// value. Layout: header 0..64, put 1 at 64 (37 bytes), batch begin at 101,
/// puts at 133, 168, 205, commit at 237, delete at 269, put 5 at 301 (288
/// bytes), end 589.
pub fn clean_store() -> (tempfile::TempDir, PathBuf) {
    store_with(|s| {
        s.store(1, b"hello").unwrap();
        s.store_batch(&[(2, b"two".as_slice()), (3, b"three"), (4, b"")])
            .unwrap();
        s.delete(2).unwrap();
        s.store(5, &(0..=255u8).collect::<Vec<u8>>()).unwrap();
    })
}

/// Six puts: id n at these offsets, with these payloads.
pub const SIX: [(u64, &[u8], u64); 6] = [
    (1, b"alpha", 64),
    (2, b"bravo-payload", 101),
    (3, b"charlie", 146),
    (4, b"delta", 185),
    (5, b"echo", 222),
    (6, b"foxtrot", 258),
];

pub fn six_puts() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = store_with(|s| {
        for (id, payload, _) in SIX {
            s.store(id, payload).unwrap();
        }
    });
    let mut at = 64;
    for (_, payload, offset) in SIX {
        assert_eq!(offset, at);
        at += 32 + payload.len() as u64;
    }
    assert_eq!(fs::metadata(log_path(&dir)).unwrap().len(), 297);
    (tmp, dir)
}

/// `six_puts`, then damaged: one payload byte of id 2 (at 137) and of id 4
/// (at 217) flipped, and the log cut to 294 bytes, 3 short of the end of
/// id 6's record (a torn tail).
pub fn damaged_six() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = six_puts();
    flip(&dir, 101 + 32 + 4);
    flip(&dir, 185 + 32);
    truncate(&dir, 294);
    (tmp, dir)
}

/// The payloads of ids 2 and 4 as `damaged_six` leaves them.
pub fn damaged_payloads() -> (Vec<u8>, Vec<u8>) {
    let mut bad2 = b"bravo-payload".to_vec();
    bad2[4] ^= 1;
    let mut bad4 = b"delta".to_vec();
    bad4[0] ^= 1;
    (bad2, bad4)
}

/// Ids 1 "one" and 2 "two", a snapshot at 134, id 3 "three"; then the
/// payload of id 1 rots. An open trusts the snapshot and does not replay
/// id 1's record, so the damage shows only when id 1 is read (or verified).
pub fn rotted_under_a_snapshot() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = store_with(|s| {
        s.store(1, b"one").unwrap(); // 64..99
        s.store(2, b"two").unwrap(); // 99..134
        assert_eq!(s.snapshot().unwrap(), 134);
        s.store(3, b"three").unwrap(); // 134..171
    });
    flip(&dir, 64 + 32 + 1); // "one" -> "ooe"
    (tmp, dir)
}

pub fn read_only(salvage: bool) -> Options {
    let mut o = Options::default();
    o.set_read_only(true);
    if salvage {
        o.set_recovery(walstore::RecoveryMode::Salvage);
    }
    o
}
