//! The safe `Store` API as a caller sees it: round trips, reopen under every
//! durability level, locking (in this process and across processes),
//! descriptor inheritance, bad input (each with its exact error kind and
//! proof that nothing was written or lost), file-header verdicts, read-only
//! opens of a torn log, and what error messages say.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use walstore::{Durability, Error, ErrorKind, Options, Store};
mod common;
use common::tmp;

const LOG_NAME: &str = "wal-0000000000000001.log";

/// Spawning a child process forks this one, and between fork and exec the
/// child holds a copy of every descriptor, close-on-exec ones included: for
/// that instant it keeps any store's `flock` alive. A test that closes a
/// store and reopens it at that instant would see a spurious `Locked`. So
/// the tests that spawn processes run alone (write side), and every other
/// test runs alongside the others (read side).
static SPAWN_GATE: RwLock<()> = RwLock::new(());

fn no_spawning() -> RwLockReadGuard<'static, ()> {
    SPAWN_GATE.read().unwrap_or_else(|e| e.into_inner())
}

fn spawning() -> RwLockWriteGuard<'static, ()> {
    SPAWN_GATE.write().unwrap_or_else(|e| e.into_inner())
}

fn log_of(dir: &Path) -> PathBuf {
    dir.join(LOG_NAME)
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

fn read_only() -> Options {
    let mut o = Options::new();
    o.set_read_only(true);
    o
}

fn open(dir: &Path) -> Store {
    Store::open(dir, &Options::new()).unwrap()
}

fn err_of<T: std::fmt::Debug>(r: walstore::Result<T>) -> Error {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// `len` bytes of a pattern that depends on `seed`, so that payloads differ.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A store dir whose log holds two records (ids 1 and 2); returns the log's
/// bytes.
fn valid_log(dir: &Path) -> Vec<u8> {
    let s = open(dir);
    s.store(1, b"one").unwrap();
    s.store(2, b"two").unwrap();
    s.close().unwrap();
    fs::read(log_of(dir)).unwrap()
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap())
}

/// crc32(log identity LE ++ parts), as records use it.
fn crc_with_identity(log_id: &[u8], part: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(log_id);
    h.update(part);
    h.finalize()
}

// ---------------------------------------------------------------- round trips

#[test]
fn store_retrieve_overwrite_delete() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    assert!(s.is_empty());
    s.store(7, b"first").unwrap();
    assert_eq!(s.retrieve(7).unwrap(), b"first");
    assert_eq!(s.payload_len(7).unwrap(), 5);
    assert_eq!(s.len(), 1);

    s.store(7, b"second, longer").unwrap();
    assert_eq!(s.retrieve(7).unwrap(), b"second, longer");
    assert_eq!(s.payload_len(7).unwrap(), 14);
    assert_eq!(s.len(), 1);

    s.store(8, b"other").unwrap();
    assert_eq!(s.len(), 2);
    s.delete(7).unwrap();
    assert_eq!(s.retrieve(7).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.payload_len(7).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.retrieve(8).unwrap(), b"other");
    assert_eq!(s.len(), 1);

    // Deleting it again: NotFound, nothing written.
    let before = s.log_position();
    let bytes = std::fs::read(log_of(d.path())).unwrap();
    let e = s.delete(7).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "id 7 not found");
    assert_eq!(s.log_position(), before);
    assert_eq!(std::fs::read(log_of(d.path())).unwrap(), bytes);

    // A deleted id can be stored again.
    s.store(7, b"third").unwrap();
    assert_eq!(s.retrieve(7).unwrap(), b"third");
    s.close().unwrap();
}

#[test]
fn zero_length_payloads_are_values() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    s.store(3, b"").unwrap();
    assert_eq!(s.retrieve(3).unwrap(), Vec::<u8>::new());
    assert_eq!(s.payload_len(3).unwrap(), 0);
    assert_eq!(s.retrieve_into(3, &mut []).unwrap(), 0);
    let mut buf = [0xAAu8; 4];
    assert_eq!(s.retrieve_into(3, &mut buf).unwrap(), 0);
    assert_eq!(buf, [0xAA; 4]);
    assert_eq!(s.len(), 1);
    // An empty payload replaces a non-empty one and back.
    s.store(4, b"abc").unwrap();
    s.store(4, b"").unwrap();
    assert_eq!(s.retrieve(4).unwrap(), b"");
    s.close().unwrap();

    let s = open(d.path());
    assert_eq!(s.retrieve(3).unwrap(), b"");
    assert_eq!(s.retrieve(4).unwrap(), b"");
    assert_eq!(s.len(), 2);
    s.close().unwrap();
}

#[test]
fn retrieve_into_exact_larger_and_too_small() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    s.store(10, b"0123456789").unwrap();

    let mut exact = [0u8; 10];
    assert_eq!(s.retrieve_into(10, &mut exact).unwrap(), 10);
    assert_eq!(&exact, b"0123456789");

    let mut larger = [0xAAu8; 16];
    assert_eq!(s.retrieve_into(10, &mut larger).unwrap(), 10);
    assert_eq!(&larger[..10], b"0123456789");
    assert_eq!(larger[10..], [0xAA; 6], "bytes past the payload untouched");

    let mut small = [0xAAu8; 9];
    let e = s.retrieve_into(10, &mut small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
    match &e {
        Error::BufferTooSmall {
            id,
            needed,
            capacity,
        } => assert_eq!((*id, *needed, *capacity), (10, 10, 9)),
        other => panic!("expected BufferTooSmall, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "buffer too small for id 10: payload is 10 bytes, buffer holds 9"
    );
    assert_eq!(small, [0xAA; 9], "a too-small buffer is left untouched");

    let e = s.retrieve_into(10, &mut []).unwrap_err();
    assert!(matches!(
        e,
        Error::BufferTooSmall {
            id: 10,
            needed: 10,
            capacity: 0
        }
    ));

    let e = s.retrieve_into(11, &mut larger).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    s.close().unwrap();
}

#[test]
fn extreme_ids_and_a_one_mib_payload() {
    let _gate = no_spawning();
    let d = tmp();
    let big = pattern(1 << 20, 5);
    let s = open(d.path());
    s.store(0, b"zero").unwrap();
    s.store(u64::MAX, b"max").unwrap();
    s.store(u64::MAX - 1, &big).unwrap();
    assert_eq!(s.retrieve(0).unwrap(), b"zero");
    assert_eq!(s.retrieve(u64::MAX).unwrap(), b"max");
    assert_eq!(s.retrieve(u64::MAX - 1).unwrap(), big);
    assert_eq!(s.payload_len(u64::MAX - 1).unwrap(), 1 << 20);
    let mut buf = vec![0u8; 1 << 20];
    assert_eq!(s.retrieve_into(u64::MAX - 1, &mut buf).unwrap(), 1 << 20);
    assert_eq!(buf, big);
    // 64-byte file header, then three records of 32 + payload bytes.
    let expected_len = 64 + (32 + 4) + (32 + 3) + (32 + (1 << 20));
    assert_eq!(s.log_position(), expected_len);
    s.close().unwrap();
    assert_eq!(file_len(&log_of(d.path())), expected_len);

    let s = open(d.path());
    assert_eq!(s.retrieve(0).unwrap(), b"zero");
    assert_eq!(s.retrieve(u64::MAX).unwrap(), b"max");
    assert_eq!(s.retrieve(u64::MAX - 1).unwrap(), big);
    s.delete(0).unwrap();
    s.delete(u64::MAX).unwrap();
    s.close().unwrap();
    let s = open(d.path());
    assert_eq!(s.retrieve(0).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        s.retrieve(u64::MAX).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(s.len(), 1);
    s.close().unwrap();
}

#[test]
fn a_payload_exactly_at_the_limit_is_accepted() {
    let _gate = no_spawning();
    let d = tmp();
    let mut o = Options::new();
    o.set_max_payload(16).unwrap();
    let s = Store::open(d.path(), &o).unwrap();
    s.store(1, &[7u8; 16]).unwrap();
    assert_eq!(s.retrieve(1).unwrap(), [7u8; 16]);
    s.close().unwrap();
}

fn exercise(dir: &Path, durability: Durability) -> Vec<(u64, Vec<u8>)> {
    let mut o = Options::new();
    o.set_durability(durability);
    let s = Store::open(dir, &o).unwrap();
    s.store(1, b"a").unwrap();
    s.store(2, &pattern(1000, 2)).unwrap();
    s.store(3, b"").unwrap();
    s.store(1, b"a, again").unwrap();
    s.store(4, b"doomed").unwrap();
    s.delete(4).unwrap();
    s.store_batch(&[(5, b"five"), (6, b"six"), (5, b"five, later")])
        .unwrap();
    // What was written is readable before the reopen too (from the buffer
    // under Durability::None).
    assert_eq!(s.retrieve(1).unwrap(), b"a, again");
    assert_eq!(s.retrieve(5).unwrap(), b"five, later");
    let expected = vec![
        (1, b"a, again".to_vec()),
        (2, pattern(1000, 2)),
        (3, Vec::new()),
        (5, b"five, later".to_vec()),
        (6, b"six".to_vec()),
    ];
    s.close().unwrap();
    expected
}

fn check_reopen(dir: &Path, expected: &[(u64, Vec<u8>)]) {
    let s = open(dir);
    for (id, data) in expected {
        assert_eq!(&s.retrieve(*id).unwrap(), data, "id {id}");
    }
    assert_eq!(s.retrieve(4).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.len(), expected.len());
    let r = s.open_report();
    // 5 stores, 1 delete, 3 batch entries.
    assert_eq!(r.records_replayed, 9);
    assert_eq!(r.damaged_records, 0);
    assert_eq!(r.torn_tail, None);
    assert!(!r.reinitialised);
    assert_eq!(r.log_path, log_of(dir));
    s.close().unwrap();
}

#[test]
fn reopen_keeps_everything_under_fsync() {
    let _gate = no_spawning();
    let d = tmp();
    let expected = exercise(d.path(), Durability::Fsync);
    check_reopen(d.path(), &expected);
}

#[test]
fn reopen_keeps_everything_under_flush() {
    let _gate = no_spawning();
    let d = tmp();
    let expected = exercise(d.path(), Durability::Flush);
    check_reopen(d.path(), &expected);
}

#[test]
fn reopen_keeps_everything_under_none() {
    let _gate = no_spawning();
    let d = tmp();
    let expected = exercise(d.path(), Durability::None);
    check_reopen(d.path(), &expected);
}

#[test]
fn a_dropped_none_store_still_reaches_the_disk() {
    let _gate = no_spawning();
    let d = tmp();
    let mut o = Options::new();
    o.set_durability(Durability::None);
    {
        let s = Store::open(d.path(), &o).unwrap();
        s.store(1, b"buffered").unwrap();
        s.store_batch(&[(2, b"x"), (3, b"y")]).unwrap();
        // Dropped without close.
    }
    let s = open(d.path());
    assert_eq!(s.retrieve(1).unwrap(), b"buffered");
    assert_eq!(s.retrieve(2).unwrap(), b"x");
    assert_eq!(s.retrieve(3).unwrap(), b"y");
    assert_eq!(s.open_report().records_replayed, 3);
    s.close().unwrap();
}

#[test]
fn records_replayed_counts_stores_and_deletes_not_batch_framing() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    s.store(1, b"a").unwrap(); // 1
    s.store(2, b"b").unwrap(); // 2
    s.store(1, b"c").unwrap(); // 3
    s.delete(2).unwrap(); // 4
    s.store_batch(&[(10, b"x"), (11, b"y"), (12, b"z")])
        .unwrap(); // 7 (+2 framing records, not counted)
    s.store_batch(&[(13, b"single")]).unwrap(); // 8 (no framing)
    s.store_batch(&[]).unwrap(); // nothing
    assert_eq!(s.open_report().records_replayed, 0);
    s.close().unwrap();

    let s = open(d.path());
    assert_eq!(s.open_report().records_replayed, 8);
    assert_eq!(s.len(), 5);
    s.close().unwrap();

    // Replayed records accumulate over reopens: the log keeps them all.
    let s = open(d.path());
    s.delete(13).unwrap();
    s.close().unwrap();
    let s = open(d.path());
    assert_eq!(s.open_report().records_replayed, 9);
    assert_eq!(s.len(), 4);
    s.close().unwrap();
}

#[test]
fn store_batch_semantics() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    let before = s.log_position();
    s.store_batch(&[]).unwrap();
    assert_eq!(s.log_position(), before, "an empty batch writes nothing");
    assert_eq!(file_len(&log_of(d.path())), before);

    s.store_batch(&[(1, b"first"), (2, b"two"), (1, b"later")])
        .unwrap();
    assert_eq!(s.retrieve(1).unwrap(), b"later");
    assert_eq!(s.retrieve(2).unwrap(), b"two");
    assert_eq!(s.len(), 2);
    // Framing (2 x 32) + three store records.
    assert_eq!(
        s.log_position(),
        before + 2 * 32 + (32 + 5) + (32 + 3) + (32 + 5)
    );
    s.close().unwrap();
    let s = open(d.path());
    assert_eq!(s.retrieve(1).unwrap(), b"later");
    assert_eq!(s.retrieve(2).unwrap(), b"two");
    s.close().unwrap();
}

// ---------------------------------------------------------------- locking

#[test]
fn a_second_open_in_this_process_is_locked_until_close() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    s.store(1, b"held").unwrap();
    let e = err_of(Store::open(d.path(), &Options::new()));
    assert_eq!(e.kind(), ErrorKind::Locked);
    let lock = d.path().join("LOCK");
    assert!(
        e.to_string().contains(&lock.display().to_string()),
        "message names the LOCK file: {e}"
    );
    assert!(matches!(&e, Error::Locked { path } if *path == lock));
    // A read-only open is refused while the writer holds it.
    assert_eq!(
        err_of(Store::open(d.path(), &read_only())).kind(),
        ErrorKind::Locked
    );
    s.close().unwrap();

    let s = open(d.path());
    assert_eq!(s.retrieve(1).unwrap(), b"held");
    s.close().unwrap();
}

#[test]
fn a_dropped_store_releases_its_lock() {
    let _gate = no_spawning();
    let d = tmp();
    drop(open(d.path()));
    open(d.path()).close().unwrap();
}

#[test]
fn read_only_opens_share_and_exclude_writers() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    s.store(1, b"shared").unwrap();
    s.close().unwrap();

    let r1 = Store::open(d.path(), &read_only()).unwrap();
    let r2 = Store::open(d.path(), &read_only()).unwrap();
    assert_eq!(r1.retrieve(1).unwrap(), b"shared");
    assert_eq!(r2.retrieve(1).unwrap(), b"shared");
    let e = err_of(Store::open(d.path(), &Options::new()));
    assert_eq!(e.kind(), ErrorKind::Locked);
    r1.close().unwrap();
    // Still one reader.
    assert_eq!(
        err_of(Store::open(d.path(), &Options::new())).kind(),
        ErrorKind::Locked
    );
    r2.close().unwrap();

    let w = open(d.path());
    assert_eq!(
        err_of(Store::open(d.path(), &read_only())).kind(),
        ErrorKind::Locked
    );
    w.close().unwrap();
}

const CHILD_DIR_ENV: &str = "WALSTORE_API_TEST_CHILD_DIR";
const CHILD_RO_ENV: &str = "WALSTORE_API_TEST_CHILD_READ_ONLY";
const CHILD_TEST: &str = "helper_child_process_holds_a_store_open";
const READY: &str = "WALSTORE_HOLDER_READY";
const FAILED: &str = "WALSTORE_HOLDER_FAILED";

/// Not a test on its own: in a normal run it returns at once. Spawned by
/// `Holder::walstore_child` (this test binary re-executed with `--exact`
/// and `CHILD_DIR_ENV` set), it opens the store, says READY, and holds it
/// open until its stdin is closed.
#[test]
fn helper_child_process_holds_a_store_open() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let mut o = Options::new();
    o.set_read_only(std::env::var_os(CHILD_RO_ENV).is_some());
    let s = match Store::open(&dir, &o) {
        Ok(s) => s,
        Err(e) => {
            println!("\n{FAILED} {e}");
            std::io::stdout().flush().unwrap();
            panic!("child could not open the store: {e}");
        }
    };
    println!("\n{READY}");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    s.close().unwrap();
}

/// Another process holding a store's lock until dropped.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Holder {
    /// `flock(1)` from util-linux holding `LOCK` (exclusive or shared).
    fn flock(dir: &Path, shared: bool) -> Holder {
        let child = Command::new("flock")
            .arg(if shared { "-s" } else { "-x" })
            .arg("-n")
            .arg(dir.join("LOCK"))
            .args(["sh", "-c", &format!("echo {READY}; read x || true")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn flock");
        Holder::wait_ready(child)
    }

    /// This test binary, re-executed, holding the store open through
    /// walstore itself.
    fn walstore_child(dir: &Path, read_only: bool) -> Holder {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if read_only {
            cmd.env(CHILD_RO_ENV, "1");
        } else {
            cmd.env_remove(CHILD_RO_ENV);
        }
        Holder::wait_ready(cmd.spawn().expect("re-exec the test binary"))
    }

    fn wait_ready(mut child: Child) -> Holder {
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap();
            seen.push_str(&line);
            if line.contains(READY) {
                break;
            }
            if n == 0 || line.contains(FAILED) {
                let status = child.wait().unwrap();
                panic!("lock holder did not get ready ({status}); its output:\n{seen}");
            }
        }
        // Keep draining its stdout so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Holder { child, stdin }
    }

    /// Lets the holder exit, and checks that it exited cleanly.
    fn release(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "lock holder exited with {status}");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if self.stdin.take().is_some() {
            // Only on a failing test: do not leave the child behind.
            let _ = self.child.wait();
        }
    }
}

fn flock_installed() -> bool {
    Command::new("flock")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_lock_held_by_flock_in_another_process_is_respected() {
    let _gate = spawning();
    let d = tmp();
    valid_log(d.path());
    let flock = flock_installed();
    let exclusive = if flock {
        Holder::flock(d.path(), false)
    } else {
        eprintln!("flock(1) is not installed: holding the lock from a re-executed test binary");
        Holder::walstore_child(d.path(), false)
    };
    let e = err_of(Store::open(d.path(), &Options::new()));
    assert_eq!(e.kind(), ErrorKind::Locked);
    assert!(e
        .to_string()
        .contains(&d.path().join("LOCK").display().to_string()));
    assert_eq!(
        err_of(Store::open(d.path(), &read_only())).kind(),
        ErrorKind::Locked
    );
    exclusive.release();
    open(d.path()).close().unwrap();

    // A shared flock: read-only opens join it, writers are refused.
    if flock {
        let sh = Holder::flock(d.path(), true);
        assert_eq!(
            err_of(Store::open(d.path(), &Options::new())).kind(),
            ErrorKind::Locked
        );
        let r = Store::open(d.path(), &read_only()).unwrap();
        assert_eq!(r.retrieve(1).unwrap(), b"one");
        r.close().unwrap();
        sh.release();
        open(d.path()).close().unwrap();
    }
}

#[test]
fn a_store_held_open_by_another_process_is_locked() {
    let _gate = spawning();
    let d = tmp();
    valid_log(d.path());

    let writer = Holder::walstore_child(d.path(), false);
    assert_eq!(
        err_of(Store::open(d.path(), &Options::new())).kind(),
        ErrorKind::Locked
    );
    assert_eq!(
        err_of(Store::open(d.path(), &read_only())).kind(),
        ErrorKind::Locked
    );
    writer.release();

    let reader = Holder::walstore_child(d.path(), true);
    assert_eq!(
        err_of(Store::open(d.path(), &Options::new())).kind(),
        ErrorKind::Locked
    );
    let r = Store::open(d.path(), &read_only()).unwrap();
    assert_eq!(r.retrieve(2).unwrap(), b"two");
    r.close().unwrap();
    reader.release();

    let s = open(d.path());
    assert_eq!(s.retrieve(1).unwrap(), b"one");
    s.close().unwrap();
}

/// Every descriptor the store holds is close-on-exec: checked with fcntl,
/// by listing a child's descriptors (with a positive control showing the
/// listing would see a leak), and by the consequence that matters: a child
/// spawned while the store is open does not keep the lock after close.
#[test]
fn store_descriptors_are_close_on_exec() {
    let _gate = spawning();
    let d = tmp();
    let dir = d.path().canonicalize().unwrap();
    let s = open(&dir);

    let mut held = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Ok(target) = fs::read_link(entry.path()) else {
            continue; // closed meanwhile (the read_dir descriptor itself)
        };
        if !target.starts_with(&dir) {
            continue;
        }
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        // SAFETY: F_GETFD only reads the descriptor's flags; the descriptor
        // belongs to the open store, which outlives this call.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(flags >= 0, "fcntl({fd}) failed");
        assert_ne!(
            flags & libc::FD_CLOEXEC,
            0,
            "descriptor {fd} -> {target:?} lacks FD_CLOEXEC"
        );
        held.push(target);
    }
    held.sort();
    assert_eq!(held, vec![dir.join("LOCK"), dir.join(LOG_NAME)]);

    let child_fds = || {
        let out = Command::new("ls")
            .args(["-l", "/proc/self/fd/"])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Positive control: a descriptor opened without O_CLOEXEC is seen.
    let control = dir.join("control");
    fs::write(&control, b"c").unwrap();
    let c_path = std::ffi::CString::new(control.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    let listing = child_fds();
    // SAFETY: fd was opened above and is closed exactly once.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    assert!(
        listing.contains(control.to_str().unwrap()),
        "the control descriptor should be inherited: {listing}"
    );
    let listing = child_fds();
    assert!(
        !listing.contains(dir.to_str().unwrap()),
        "a child inherited a store descriptor: {listing}"
    );

    // A long-lived child spawned while the store is open must not keep the
    // lock once the store is closed.
    let mut child = Command::new("sh")
        .args(["-c", "read x || true"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    s.close().unwrap();
    let reopened = Store::open(&dir, &Options::new());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    reopened.unwrap().close().unwrap();
}

// ---------------------------------------------------------------- bad input

#[test]
fn an_oversized_payload_is_refused_and_nothing_is_written() {
    let _gate = no_spawning();
    let d = tmp();
    let mut o = Options::new();
    o.set_max_payload(8).unwrap();
    let s = Store::open(d.path(), &o).unwrap();
    s.store(1, b"ok").unwrap();
    let log = log_of(d.path());
    let before = fs::read(&log).unwrap();
    let pos = s.log_position();

    let e = s.store(2, &[0u8; 9]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "invalid argument: payload of id 2 is 9 bytes, over the limit of 8 bytes"
    );
    assert_eq!(s.log_position(), pos);
    assert_eq!(fs::read(&log).unwrap(), before);
    assert_eq!(s.retrieve(2).unwrap_err().kind(), ErrorKind::NotFound);

    // One oversized entry rejects the whole batch, before anything is
    // written: not even the valid entries ahead of it.
    let e = s
        .store_batch(&[(3, b"fine"), (1, b"overwrite"), (4, b"x")])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "invalid argument: payload of id 1 is 9 bytes, over the limit of 8 bytes"
    );
    assert_eq!(s.log_position(), pos);
    assert_eq!(fs::read(&log).unwrap(), before);
    assert_eq!(s.retrieve(1).unwrap(), b"ok");
    assert_eq!(s.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.retrieve(4).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.len(), 1);

    // The store is still usable, and the reopened log holds exactly one record.
    s.store(5, b"after").unwrap();
    s.close().unwrap();
    let s = open(d.path());
    assert_eq!(s.open_report().records_replayed, 2);
    assert_eq!(s.retrieve(1).unwrap(), b"ok");
    assert_eq!(s.retrieve(5).unwrap(), b"after");
    s.close().unwrap();
}

#[test]
fn the_default_limit_is_64_mib() {
    let _gate = no_spawning();
    let d = tmp();
    let s = open(d.path());
    let pos = s.log_position();
    let big = vec![0u8; (64 << 20) + 1];
    assert_eq!(
        s.store(1, &big).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(s.log_position(), pos);
    assert_eq!(file_len(&log_of(d.path())), pos);
    s.close().unwrap();
}

#[test]
fn writes_on_a_read_only_store_are_refused() {
    let _gate = no_spawning();
    let d = tmp();
    let bytes = valid_log(d.path());
    let s = Store::open(d.path(), &read_only()).unwrap();
    assert!(s.options().read_only());
    for e in [
        s.store(3, b"new").unwrap_err(),
        s.store(1, b"overwrite").unwrap_err(),
        s.store_batch(&[(3, b"a"), (4, b"b")]).unwrap_err(),
        s.delete(1).unwrap_err(),
        s.delete(99).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
    }
    s.sync().unwrap();
    assert_eq!(s.retrieve(1).unwrap(), b"one");
    assert_eq!(s.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
    s.close().unwrap();
    assert_eq!(fs::read(log_of(d.path())).unwrap(), bytes);
    let mut names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["LOCK", LOG_NAME]);
}

#[test]
fn a_missing_directory_is_created_by_a_writer_only() {
    let _gate = no_spawning();
    let d = tmp();
    let missing = d.path().join("a/b/c");
    let e = err_of(Store::open(&missing, &read_only()));
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(
        matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(!d.path().join("a").exists(), "read-only created nothing");

    let s = Store::open(&missing, &Options::new()).unwrap();
    s.store(1, b"x").unwrap();
    s.close().unwrap();
    assert!(log_of(&missing).is_file());
    assert!(missing.join("LOCK").is_file());
}

#[test]
fn a_directory_without_a_log_is_io_for_read_only() {
    let _gate = no_spawning();
    let d = tmp();
    let e = err_of(Store::open(d.path(), &read_only()));
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(!log_of(d.path()).exists());
}

#[test]
fn a_path_that_is_a_file_is_io() {
    let _gate = no_spawning();
    let d = tmp();
    let f = d.path().join("plain");
    fs::write(&f, b"not a dir").unwrap();
    for o in [Options::new(), read_only()] {
        let e = err_of(Store::open(&f, &o));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.to_string().contains(f.to_str().unwrap()), "{e}");
    }
    assert_eq!(fs::read(&f).unwrap(), b"not a dir");
}

/// Opens (writer, then read-only) and expects `kind` with the log left
/// exactly as `bytes`.
fn expect_refused_untouched(dir: &Path, bytes: &[u8], kind: ErrorKind) -> Vec<Error> {
    let log = log_of(dir);
    fs::write(&log, bytes).unwrap();
    let mut errors = Vec::new();
    for o in [Options::new(), read_only()] {
        let e = err_of(Store::open(dir, &o));
        assert_eq!(e.kind(), kind, "read_only={}: {e}", o.read_only());
        assert_eq!(fs::read(&log).unwrap(), bytes, "the log was modified");
        errors.push(e);
    }
    // No side file appeared either.
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["LOCK", LOG_NAME]);
    errors
}

#[test]
fn a_text_file_as_log_is_incompatible_and_untouched() {
    let _gate = no_spawning();
    let d = tmp();
    let text: Vec<u8> = b"This is a plain text file, not a walstore log at all. "
        .iter()
        .cycle()
        .take(100)
        .copied()
        .collect();
    assert_eq!(text.len(), 100);
    let errs = expect_refused_untouched(d.path(), &text, ErrorKind::Incompatible);
    let log = log_of(d.path());
    assert!(errs[0].to_string().contains(log.to_str().unwrap()));
    assert!(errs[0].to_string().contains("not a walstore log"));
}

#[test]
fn ten_bytes_of_garbage_are_incompatible_and_untouched() {
    let _gate = no_spawning();
    let d = tmp();
    expect_refused_untouched(d.path(), b"\x00garbage!\xff", ErrorKind::Incompatible);
    // A short file whose first byte already disagrees with the magic.
    expect_refused_untouched(d.path(), b"X", ErrorKind::Incompatible);
    // Magic right, version wrong, still short.
    let mut short = b"WALSTORE".to_vec();
    short.extend_from_slice(&2u32.to_le_bytes());
    expect_refused_untouched(d.path(), &short, ErrorKind::Incompatible);
}

#[test]
fn an_unknown_format_version_is_incompatible_and_untouched() {
    let _gate = no_spawning();
    let d = tmp();
    let mut bytes = valid_log(d.path());
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let errs = expect_refused_untouched(d.path(), &bytes, ErrorKind::Incompatible);
    assert!(
        errs[0].to_string().contains("format version 2"),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_header_flags_are_incompatible_and_untouched() {
    let _gate = no_spawning();
    let d = tmp();
    let mut bytes = valid_log(d.path());
    bytes[12..16].copy_from_slice(&1u32.to_le_bytes());
    let c = crc32fast::hash(&bytes[..60]);
    bytes[60..64].copy_from_slice(&c.to_le_bytes());
    expect_refused_untouched(d.path(), &bytes, ErrorKind::Incompatible);
}

#[test]
fn file_header_crc_damage_is_corruption_at_offset_0() {
    let _gate = no_spawning();
    let d = tmp();
    let mut bytes = valid_log(d.path());
    let expected = le_u32(&bytes[60..64]);
    bytes[20] ^= 0x40; // inside the log identity
    let actual = crc32fast::hash(&bytes[..60]);
    let errs = expect_refused_untouched(d.path(), &bytes, ErrorKind::Corruption);
    let log = log_of(d.path());
    for e in &errs {
        assert!(matches!(e, Error::Corruption { offset: 0, path, .. } if *path == log));
        assert_eq!(
            e.to_string(),
            format!(
                "corruption in {} at offset 0: file header CRC mismatch: \
                 expected {expected:#010x}, actual {actual:#010x}",
                log.display()
            )
        );
    }
    // Damage to the stored CRC itself is the same verdict.
    let mut bytes = valid_log_fresh();
    bytes[62] ^= 1;
    expect_refused_untouched(d.path(), &bytes, ErrorKind::Corruption);
}

fn valid_log_fresh() -> Vec<u8> {
    let d = tmp();
    valid_log(d.path())
}

#[test]
fn an_empty_log_and_every_header_prefix_are_reinitialised() {
    let _gate = no_spawning();
    let header: Vec<u8> = valid_log_fresh()[..64].to_vec();
    for n in 0..64 {
        let d = tmp();
        let log = log_of(d.path());
        fs::write(&log, &header[..n]).unwrap();

        let s = Store::open(d.path(), &Options::new())
            .unwrap_or_else(|e| panic!("prefix of {n} bytes: {e}"));
        let r = s.open_report();
        assert!(r.reinitialised, "prefix of {n} bytes");
        assert_eq!(r.records_replayed, 0);
        assert_eq!(r.torn_tail, None);
        assert!(s.is_empty());
        assert_eq!(s.log_position(), 64);
        let fresh = fs::read(&log).unwrap();
        assert_eq!(fresh.len(), 64, "prefix of {n} bytes");
        assert_eq!(&fresh[..12], &header[..12], "magic and version");
        assert_eq!(le_u32(&fresh[60..64]), crc32fast::hash(&fresh[..60]));
        assert_eq!(&fresh[24..32], &1u64.to_le_bytes(), "generation 1");

        s.store(1, b"after").unwrap();
        s.store_batch(&[(2, b"b"), (3, b"c")]).unwrap();
        s.close().unwrap();
        let s = open(d.path());
        assert!(!s.open_report().reinitialised);
        assert_eq!(s.open_report().records_replayed, 3);
        assert_eq!(s.retrieve(1).unwrap(), b"after");
        assert_eq!(s.retrieve(3).unwrap(), b"c");
        s.close().unwrap();
    }
}

#[test]
fn a_read_only_open_of_an_unfinished_header_is_empty_and_writes_nothing() {
    let _gate = no_spawning();
    let header: Vec<u8> = valid_log_fresh()[..64].to_vec();
    for n in [0, 1, 12, 63] {
        let d = tmp();
        let log = log_of(d.path());
        // As a writer that crashed while creating the log leaves it: the
        // LOCK file exists (a read-only open does not create it).
        fs::write(d.path().join("LOCK"), b"").unwrap();
        fs::write(&log, &header[..n]).unwrap();
        let s = Store::open(d.path(), &read_only()).unwrap();
        assert!(s.is_empty());
        assert!(!s.open_report().reinitialised);
        assert_eq!(s.retrieve(1).unwrap_err().kind(), ErrorKind::NotFound);
        s.close().unwrap();
        assert_eq!(fs::read(&log).unwrap(), &header[..n]);
    }
}

#[test]
fn bad_option_values_are_refused_and_change_nothing() {
    let _gate = no_spawning();
    let mut o = Options::new();
    o.set_durability(Durability::Flush);
    let before = o.clone();
    for e in [
        o.set_max_payload(0).map(|_| ()).unwrap_err(),
        o.set_max_payload(u32::MAX as usize + 1)
            .map(|_| ())
            .unwrap_err(),
        o.set_write_buffer(0).map(|_| ()).unwrap_err(),
        o.set_write_buffer((1 << 30) + 1).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    assert_eq!(o, before);
    assert_eq!(
        o.set_max_payload(0).map(|_| ()).unwrap_err().to_string(),
        format!(
            "invalid argument: max payload 0 is outside 1..={}",
            u32::MAX
        )
    );
    // The edges of the ranges are accepted.
    o.set_max_payload(1).unwrap();
    assert_eq!(o.max_payload(), 1);
    o.set_max_payload(u32::MAX as usize).unwrap();
    assert_eq!(o.max_payload(), u32::MAX as usize);
    o.set_write_buffer(1).unwrap();
    assert_eq!(o.write_buffer(), 1);
    o.set_write_buffer(1 << 30).unwrap();
    assert_eq!(o.write_buffer(), 1 << 30);
}

// ---------------------------------------------------------- torn tail, read-only

#[test]
fn a_read_only_open_ignores_a_torn_tail_and_a_writer_cuts_it() {
    let _gate = no_spawning();
    let d = tmp();
    let log = log_of(d.path());
    let s = open(d.path());
    s.store(1, b"one").unwrap();
    s.store(2, &pattern(50, 9)).unwrap();
    let tail_at = s.log_position();
    s.store(3, &pattern(100, 3)).unwrap();
    s.close().unwrap();
    // Cut the last record in half: a crash mid-append.
    let full = fs::read(&log).unwrap();
    assert_eq!(full.len() as u64, tail_at + 32 + 100);
    let torn = &full[..tail_at as usize + 40];
    fs::write(&log, torn).unwrap();

    for _ in 0..2 {
        let r = Store::open(d.path(), &read_only()).unwrap();
        assert_eq!(r.retrieve(1).unwrap(), b"one");
        assert_eq!(r.retrieve(2).unwrap(), pattern(50, 9));
        assert_eq!(r.retrieve(3).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(r.len(), 2);
        let rep = r.open_report();
        assert_eq!(rep.records_replayed, 2);
        let t = rep.torn_tail.as_ref().expect("a torn tail is reported");
        assert_eq!((t.offset, t.bytes, t.saved_to.clone()), (tail_at, 40, None));
        r.close().unwrap();
        assert_eq!(
            fs::read(&log).unwrap(),
            torn,
            "read-only left the log alone"
        );
    }

    let s = open(d.path());
    let t = s.open_report().torn_tail.clone().expect("a torn tail");
    assert_eq!((t.offset, t.bytes), (tail_at, 40));
    let side = t.saved_to.expect("a writer saves the tail");
    assert_eq!(side.parent().unwrap(), d.path());
    assert!(side
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(&format!("{LOG_NAME}.cut-{tail_at:016x}-")));
    assert_eq!(fs::read(&side).unwrap(), &torn[tail_at as usize..]);
    assert_eq!(file_len(&log), tail_at);
    assert_eq!(s.log_position(), tail_at);
    assert_eq!(s.retrieve(2).unwrap(), pattern(50, 9));
    s.store(3, b"rewritten").unwrap();
    s.close().unwrap();

    let s = open(d.path());
    assert_eq!(s.open_report().torn_tail, None);
    assert_eq!(s.retrieve(3).unwrap(), b"rewritten");
    s.close().unwrap();
}

// ------------------------------------------------------------ error messages

#[test]
fn a_payload_crc_failure_at_open_names_path_offset_and_crcs() {
    let _gate = no_spawning();
    let d = tmp();
    let mut bytes = valid_log(d.path()); // id 1 "one" at 64, id 2 "two" at 99
    let log_id = bytes[16..24].to_vec();
    let expected = le_u32(&bytes[64 + 24..64 + 28]);
    bytes[64 + 32] ^= 0x01; // first payload byte of id 1
    let actual = crc_with_identity(&log_id, &bytes[96..99]);
    fs::write(log_of(d.path()), &bytes).unwrap();

    let e = err_of(Store::open(d.path(), &Options::new()));
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert!(matches!(e, Error::Corruption { offset: 64, .. }));
    let msg = e.to_string();
    let want = format!(
        "corruption in {} at offset 64: payload CRC mismatch in the Put record of id 1: \
         expected {expected:#010x}, actual {actual:#010x}",
        log_of(d.path()).display()
    );
    assert!(msg.starts_with(&want), "{msg}\nwanted a start of\n{want}");
    assert!(msg.contains("valid record follows at offset 99"), "{msg}");
    assert_eq!(fs::read(log_of(d.path())).unwrap(), bytes);
}

#[test]
fn a_record_header_crc_failure_at_open_names_path_offset_and_crcs() {
    let _gate = no_spawning();
    let d = tmp();
    let mut bytes = valid_log(d.path());
    let log_id = bytes[16..24].to_vec();
    let expected = le_u32(&bytes[64 + 28..64 + 32]);
    bytes[64 + 16] ^= 0x80; // the id field of the first record
    let actual = crc_with_identity(&log_id, &bytes[64..64 + 28]);
    fs::write(log_of(d.path()), &bytes).unwrap();

    let e = err_of(Store::open(d.path(), &Options::new()));
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert!(matches!(e, Error::Corruption { offset: 64, .. }));
    let msg = e.to_string();
    let want = format!(
        "corruption in {} at offset 64: record header CRC mismatch: \
         expected {expected:#010x}, actual {actual:#010x}",
        log_of(d.path()).display()
    );
    assert!(msg.starts_with(&want), "{msg}\nwanted a start of\n{want}");
}

#[test]
fn a_crc_failure_on_read_names_path_offset_and_crcs() {
    let _gate = no_spawning();
    let d = tmp();
    let log = log_of(d.path());
    let s = open(d.path());
    s.store(1, b"first").unwrap();
    let off = s.log_position();
    s.store(9, b"payload").unwrap();
    // Damage the payload behind the open store's back.
    let mut bytes = fs::read(&log).unwrap();
    let log_id = bytes[16..24].to_vec();
    let p = off as usize + 32;
    let expected = le_u32(&bytes[off as usize + 24..off as usize + 28]);
    bytes[p + 3] ^= 0xff;
    let actual = crc_with_identity(&log_id, &bytes[p..p + 7]);
    fs::write(&log, &bytes).unwrap();

    let e = s.retrieve(9).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert_eq!(
        e.to_string(),
        format!(
            "corruption in {} at offset {off}: payload of id 9: CRC mismatch: \
             expected {expected:#010x}, actual {actual:#010x}",
            log.display()
        )
    );
    let mut buf = [0x55u8; 16];
    let e = s.retrieve_into(9, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    // The intact neighbour still reads.
    assert_eq!(s.retrieve(1).unwrap(), b"first");
    drop(s);
}
