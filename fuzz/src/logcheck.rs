//! Opening one given log file every way there is (each recovery mode,
//! writable and read-only) and checking what can be checked without knowing
//! how the file came about:
//!
//! - no panic and no hang; an open fails only with `Corruption` or
//!   `Incompatible`;
//! - every id the store holds reads back consistently (see `observe`), and
//!   every payload it returns is the payload of a record that is valid in
//!   the file, under that id;
//! - a read-only open agrees with the writable open of the same mode and
//!   changes no file;
//! - the modes agree with each other: `Absolute` opens exactly when
//!   `Strict` opens without cutting a tail, and then alike; `Strict`
//!   failing makes `Absolute` fail the same way; `Strict` opening makes
//!   `Salvage` open alike; `Salvage` opening with nothing damaged makes
//!   `Strict` open alike;
//! - a writable open changes the log only by cutting a torn tail, whose
//!   bytes end up in the side file it reports (or by re-initialising a log
//!   that never got its header); a failed open changes nothing;
//! - the handle that cut a tail numbers its records above the cut ones;
//! - after a writable open, opening again gives the same state and no torn
//!   tail, and a write made then (also to a damaged id, which clears the
//!   mark) is there after a close and another open.

use crate::observe::{observe, Observed, Read};
use crate::util::{kind, lay_out_store, list, read, TmpDir, LOCK_NAME, LOG_NAME};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use walstore::format::{
    decode_header, payload_crc, FileHeader, RecordType, FILE_HEADER_LEN, RECORD_HEADER_LEN,
};
use walstore::{ErrorKind, OpenReport, Options, RecoveryMode, Store};

pub const MODES: [RecoveryMode; 3] = [
    RecoveryMode::Strict,
    RecoveryMode::Salvage,
    RecoveryMode::Absolute,
];

/// Every record header in a log that passes its CRC, wherever it starts.
#[derive(Debug, Default)]
pub struct Scan {
    pub log_id: Option<u64>,
    /// Ids named by any CRC-valid record header: a superset of what any open
    /// can put in the index.
    pub ids: BTreeSet<u64>,
    /// Payloads of the valid store records of each id: whatever a read
    /// returns must be one of them.
    pub versions: BTreeMap<u64, BTreeSet<Vec<u8>>>,
    /// Offsets of CRC-valid headers (known types or not).
    pub headers: Vec<u64>,
}

/// Finds every CRC-valid record header in `log` (at every byte offset), with
/// the library's own decoder.
pub fn scan(log: &[u8]) -> Scan {
    let mut s = Scan::default();
    let Some(h) = log
        .get(..FILE_HEADER_LEN)
        .and_then(|b| FileHeader::decode(b).ok())
    else {
        return s;
    };
    s.log_id = Some(h.log_id);
    let mut q = FILE_HEADER_LEN;
    while q + RECORD_HEADER_LEN <= log.len() {
        match decode_header(&log[q..q + RECORD_HEADER_LEN], h.log_id) {
            Ok(rh) => {
                s.headers.push(q as u64);
                s.ids.insert(rh.id);
                let start = q + RECORD_HEADER_LEN;
                let end = start as u64 + u64::from(rh.len);
                if rh.ty == RecordType::Put && end <= log.len() as u64 {
                    let payload = &log[start..end as usize];
                    if payload_crc(h.log_id, payload) == rh.payload_crc {
                        s.versions
                            .entry(rh.id)
                            .or_default()
                            .insert(payload.to_vec());
                    }
                }
            }
            Err(walstore::format::RecordHeaderError::Unsupported { .. }) => {
                s.headers.push(q as u64)
            }
            Err(_) => {}
        }
        q += 1;
    }
    s
}

/// The outcome of one open.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub obs: Observed,
    pub report: OpenReport,
}

pub type Opened = Result<Outcome, ErrorKind>;

/// What `examine` found, by mode: (read-only open, writable open).
pub struct Examined {
    pub ro: Vec<Opened>,
    pub rw: Vec<Opened>,
}

pub fn opts(mode: RecoveryMode, read_only: bool) -> Options {
    let mut o = Options::new();
    o.set_recovery(mode).set_read_only(read_only);
    o
}

fn torn(r: &OpenReport) -> Option<(u64, u64)> {
    r.torn_tail.as_ref().map(|t| (t.offset, t.bytes))
}

/// An id that no record in the log names, for a test write.
fn fresh_id(taken: &BTreeSet<u64>) -> u64 {
    (0x5eed_0000_0000_0000u64..)
        .find(|id| !taken.contains(id))
        .expect("a free id")
}

const PROBE: &[u8] = b"walstore-fuzz probe write";

/// Opens `log` in every mode, read-only and writable, runs every check
/// listed in the module documentation and returns what each open gave.
pub fn examine(log: &[u8]) -> Examined {
    let s = scan(log);
    let tmp = TmpDir::new();
    let mut ro = Vec::new();
    let mut rw = Vec::new();

    let ro_dir = tmp.sub("ro");
    lay_out_store(&ro_dir, log);
    for mode in MODES {
        let o = open_observe(&ro_dir, &opts(mode, true), &s);
        same_bytes(
            &read(&ro_dir.join(LOG_NAME)),
            log,
            "a read-only open changed the log",
        );
        assert_eq!(
            list(&ro_dir),
            [LOCK_NAME, LOG_NAME],
            "a read-only open made files"
        );
        if let Ok(out) = &o {
            if let Some(t) = &out.report.torn_tail {
                assert!(t.saved_to.is_none(), "a read-only open saved a tail");
            }
        }
        ro.push(o);
    }

    for mode in MODES {
        let dir = tmp.sub("rw");
        lay_out_store(&dir, log);
        let o = open_observe(&dir, &opts(mode, false), &s);
        if let Ok(out) = &o {
            after_writable_open(&dir, log, mode, out, &s);
            if let (Some(t), false) = (&out.report.torn_tail, out.report.reinitialised) {
                write_after_cut(&tmp, log, mode, t.offset, &s);
            }
        } else {
            same_bytes(
                &read(&dir.join(LOG_NAME)),
                log,
                "a failed open changed the log",
            );
            assert_eq!(
                list(&dir),
                [LOCK_NAME, LOG_NAME],
                "a failed open made files"
            );
        }
        rw.push(o);
    }

    cross_check(&ro, &rw);
    Examined { ro, rw }
}

/// Opens, observes, closes. Also checks every payload against the scan.
pub fn open_observe(dir: &Path, o: &Options, s: &Scan) -> Opened {
    let store = match Store::open(dir, o) {
        Ok(st) => st,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Corruption | ErrorKind::Incompatible),
                "open ({:?}, read-only {}) failed with {:?}: {e}",
                o.recovery(),
                o.read_only(),
                e.kind()
            );
            return Err(e.kind());
        }
    };
    let obs = observe(&store, &s.ids);
    for (id, r) in &obs.ids {
        if let Read::Data(d) = r {
            assert!(
                s.versions.get(id).is_some_and(|v| v.contains(d)),
                "id {id}: returned {} bytes that no valid record of the id holds",
                d.len()
            );
        }
    }
    let report = store.open_report().clone();
    if o.recovery() != RecoveryMode::Salvage {
        assert!(
            obs.damaged.is_empty(),
            "{:?} open marked ids damaged",
            o.recovery()
        );
        assert_eq!(report.damaged_records, 0);
    }
    assert!(
        obs.damaged.len() as u64 <= report.damaged_records,
        "{} damaged ids but {} damaged records",
        obs.damaged.len(),
        report.damaged_records
    );
    if let Some(t) = &report.torn_tail {
        assert_ne!(o.recovery(), RecoveryMode::Absolute, "Absolute cut a tail");
        assert!(t.bytes > 0, "an empty torn tail");
        assert_eq!(
            t.offset + t.bytes,
            s_len(dir, o, &report, t.offset),
            "torn tail extent"
        );
    }
    let closed = store.close();
    assert!(closed.is_ok(), "close failed: {closed:?}");
    Ok(Outcome { obs, report })
}

/// The log length the torn tail must reach: the file's length for a
/// read-only open (which leaves it), its length before the cut otherwise.
fn s_len(dir: &Path, o: &Options, r: &OpenReport, tail: u64) -> u64 {
    let now = read(&dir.join(LOG_NAME)).len() as u64;
    if o.read_only() {
        now
    } else {
        assert_eq!(now, tail, "the log was not cut where the tail starts");
        let side = r.torn_tail.as_ref().and_then(|t| t.saved_to.clone());
        let side = side.expect("a writable open that cut a tail names its side file");
        tail + read(&side).len() as u64
    }
}

fn after_writable_open(dir: &Path, log: &[u8], mode: RecoveryMode, out: &Outcome, s: &Scan) {
    let now = read(&dir.join(LOG_NAME));
    let mut names = vec![LOCK_NAME.to_string(), LOG_NAME.to_string()];
    if out.report.reinitialised {
        assert!(out.report.torn_tail.is_none());
        assert_eq!(
            now.len(),
            FILE_HEADER_LEN,
            "a re-initialised log is just a header"
        );
        assert!(out.obs.ids.is_empty());
    } else if let Some(t) = &out.report.torn_tail {
        let cut = t.offset as usize;
        assert!(cut >= FILE_HEADER_LEN && cut < log.len());
        assert_eq!(t.bytes as usize, log.len() - cut);
        same_bytes(&now, &log[..cut], "the cut log is not the input's prefix");
        let side = t.saved_to.clone().expect("side file");
        same_bytes(
            &read(&side),
            &log[cut..],
            "the side file does not hold the cut bytes",
        );
        assert_eq!(side.parent(), Some(dir));
        names.push(side.file_name().unwrap().to_string_lossy().into_owned());
    } else {
        same_bytes(
            &now,
            log,
            "a writable open changed the log without cutting a tail",
        );
    }
    names.sort();
    assert_eq!(list(dir), names, "unexpected files after a writable open");

    // Opening again finds nothing more to do and the same state.
    let s_now = scan(&now);
    let mut probe_ids = s.ids.clone();
    probe_ids.extend(s_now.ids.iter().copied());
    let s_probe = Scan {
        log_id: s_now.log_id,
        ids: probe_ids,
        versions: s_now.versions.clone(),
        headers: Vec::new(),
    };
    let again = open_observe(dir, &opts(mode, false), &s_probe)
        .unwrap_or_else(|k| panic!("{mode:?}: reopening after a successful open failed: {k:?}"));
    assert_eq!(again.obs, out.obs, "{mode:?}: reopening gave another state");
    assert!(
        again.report.torn_tail.is_none(),
        "{mode:?}: a second open found a torn tail"
    );
    assert!(!again.report.reinitialised);
    assert_eq!(again.report.damaged_records, out.report.damaged_records);
    assert_eq!(again.report.records_replayed, out.report.records_replayed);
    same_bytes(
        &read(&dir.join(LOG_NAME)),
        &now,
        "the second open changed the log",
    );

    // A write made now survives a close and another open.
    let id = fresh_id(&s_probe.ids);
    let st = Store::open(dir, &opts(mode, false)).expect("third open");
    let position = st.log_position();
    assert_eq!(
        position,
        now.len() as u64,
        "log position is not the end of the log"
    );
    st.store(id, PROBE).expect("a write after recovery");
    assert_eq!(st.retrieve(id).expect("read back"), PROBE);
    // A write to a damaged id replaces the mark (FORMAT.md §5).
    let repaired = out.obs.damaged.first().copied();
    if let Some(d) = repaired {
        st.store(d, b"repaired").expect("a write to a damaged id");
    }
    st.close().expect("close");
    let mut ids = s_probe.ids.clone();
    ids.insert(id);
    let st = Store::open(dir, &opts(mode, false))
        .unwrap_or_else(|e| panic!("{mode:?}: open after a write failed: {e}"));
    assert!(
        st.open_report().torn_tail.is_none(),
        "torn tail after a clean write"
    );
    let obs = observe(&st, &ids);
    let mut want = out.obs.clone();
    want.ids.insert(id, Read::Data(PROBE.to_vec()));
    if let Some(d) = repaired {
        want.ids.insert(d, Read::Data(b"repaired".to_vec()));
        want.damaged.retain(|x| *x != d);
    }
    assert_eq!(
        obs, want,
        "{mode:?}: the write after recovery, or older state, was lost"
    );
    st.close().expect("close");
}

/// The handle that cut a torn tail numbers its new records above every
/// record header in the cut bytes (FORMAT.md §3.5), so that cut bytes that
/// came back could never pass for newer records.
fn write_after_cut(tmp: &TmpDir, log: &[u8], mode: RecoveryMode, cut: u64, s: &Scan) {
    let dir = tmp.sub("cut");
    lay_out_store(&dir, log);
    let st = Store::open(&dir, &opts(mode, false)).expect("the same open again");
    assert_eq!(st.log_position(), cut);
    st.store(fresh_id(&s.ids), PROBE)
        .expect("a write after the cut");
    st.close().expect("close");
    let after = read(&dir.join(LOG_NAME));
    let log_id = s.log_id.expect("a valid header");
    let at = cut as usize;
    let seq = decode_header(&after[at..at + RECORD_HEADER_LEN], log_id)
        .expect("the new record")
        .seq;
    let tail_max = (at..log.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .filter_map(|q| decode_header(&log[q..q + RECORD_HEADER_LEN], log_id).ok())
        .map(|h| h.seq)
        .max();
    assert!(
        tail_max.is_none_or(|m| seq > m),
        "{mode:?}: the first record after a cut has sequence {seq}, not above {tail_max:?} \
         in the cut tail"
    );
}

/// `assert_eq!` for file contents, without printing every byte.
#[track_caller]
fn same_bytes(now: &[u8], want: &[u8], what: &str) {
    if now != want {
        let at = now.iter().zip(want).position(|(a, b)| a != b);
        let at = at.unwrap_or(now.len().min(want.len()));
        panic!(
            "{what}: {} bytes, expected {}; first difference at offset {at}",
            now.len(),
            want.len()
        );
    }
}

fn same(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(a.obs, b.obs, "{what}: different states");
    assert_eq!(
        torn(&a.report),
        torn(&b.report),
        "{what}: different torn tails"
    );
    assert_eq!(
        a.report.records_replayed, b.report.records_replayed,
        "{what}: records"
    );
    assert_eq!(
        a.report.damaged_records, b.report.damaged_records,
        "{what}: damaged"
    );
}

/// Index of each mode in `MODES`.
const STRICT: usize = 0;
const SALVAGE: usize = 1;
const ABSOLUTE: usize = 2;

fn cross_check(ro: &[Opened], rw: &[Opened]) {
    for (i, mode) in MODES.iter().enumerate() {
        match (&ro[i], &rw[i]) {
            (Ok(a), Ok(b)) => same(a, b, &format!("{mode:?} read-only vs writable")),
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "{mode:?}: read-only and writable fail differently")
            }
            (a, b) => panic!(
                "{mode:?}: read-only open {:?}, writable open {:?}",
                kind_of(a),
                kind_of(b)
            ),
        }
    }
    for set in [ro, rw] {
        let (strict, salvage, absolute) = (&set[STRICT], &set[SALVAGE], &set[ABSOLUTE]);
        match (strict, absolute) {
            (Ok(s), Ok(a)) => {
                assert!(
                    torn(&s.report).is_none(),
                    "Absolute opened a log Strict cut"
                );
                same(s, a, "Strict vs Absolute");
            }
            (Ok(s), Err(_)) => assert!(
                torn(&s.report).is_some(),
                "Absolute failed where Strict opened without a torn tail"
            ),
            (Err(s), Ok(_)) => panic!("Absolute opened a log Strict refused ({s:?})"),
            (Err(s), Err(a)) => assert_eq!(s, a, "Strict and Absolute fail differently"),
        }
        match (strict, salvage) {
            (Ok(s), Ok(v)) => same(s, v, "Strict vs Salvage"),
            (Ok(_), Err(v)) => panic!("Salvage failed ({v:?}) where Strict opened"),
            (Err(s), Ok(v)) => assert!(
                v.report.damaged_records > 0,
                "Salvage opened with nothing damaged where Strict failed ({s:?})"
            ),
            (Err(_), Err(_)) => {}
        }
    }
}

fn kind_of(o: &Opened) -> Result<(), ErrorKind> {
    o.as_ref().map(|_| ()).map_err(|k| *k)
}

/// For a `Result` of a walstore call.
pub fn err_kind<T>(r: &walstore::Result<T>) -> Option<ErrorKind> {
    kind(r)
}
