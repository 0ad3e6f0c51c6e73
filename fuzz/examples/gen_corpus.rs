//! Writes the seed corpus: real logs made through the `Store` API for
//! `open_log`, and inputs in the structured targets' encoding (see
//! `src/history.rs` and each target) for the others.
//!
//! Run from the repository root (it replaces the seeds it writes; other
//! files in the corpus directories are left alone):
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus -- fuzz/corpus
//! ```
//!
//! Log identities are random, so every run writes different log bytes.

use std::fs;
use std::path::{Path, PathBuf};
use walstore::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use walstore::{Options, Store};
use walstore_fuzz::history::payload;
use walstore_fuzz::util::{TmpDir, LOG_NAME};

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    logs(&out.join("open_log"));
    log_ops(&out.join("open_log_ops"));
    snapshots(&out.join("open_snapshot"));
    api(&out.join("api_ops"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// A log made by `f` through the API, as bytes.
fn make(f: impl FnOnce(&Store)) -> Vec<u8> {
    let tmp = TmpDir::new();
    let dir = tmp.sub("s");
    let st = Store::open(&dir, &Options::new()).unwrap();
    f(&st);
    st.close().unwrap();
    fs::read(dir.join(LOG_NAME)).unwrap()
}

fn flip(mut b: Vec<u8>, at: usize) -> Vec<u8> {
    b[at] ^= 0x10;
    b
}

fn logs(d: &Path) {
    let small = |st: &Store| {
        st.store(1, b"one").unwrap();
        st.store_batch(&[(2, b"two"), (3, b"three")]).unwrap();
        st.delete(1).unwrap();
    };
    let base = make(small);
    let h = FILE_HEADER_LEN;
    let r = RECORD_HEADER_LEN;
    write(d, "empty-store", &make(|_| {}));
    write(d, "put-batch-delete", &base);
    write(
        d,
        "many",
        &make(|st| {
            for i in 0..20u64 {
                st.store(i % 7, &payload(i as usize * 3, i as u8)).unwrap();
                if i % 5 == 4 {
                    st.delete(i % 7).unwrap();
                }
            }
            st.store_batch(&[(100, b"a"), (101, b""), (100, b"c")])
                .unwrap();
        }),
    );
    write(
        d,
        "large-payload",
        &make(|st| {
            st.store(9, &payload(3000, 7)).unwrap();
            st.store(10, b"after").unwrap();
        }),
    );
    write(
        d,
        "extreme-ids",
        &make(|st| {
            st.store(0, b"zero").unwrap();
            st.store(u64::MAX, b"max").unwrap();
            st.store_batch(&[(u64::MAX - 1, b"m1"), (1 << 40, b"big")])
                .unwrap();
        }),
    );
    // Crash leftovers: a record cut short, a batch without its commit,
    // zeros where the file grew, a partial header.
    write(d, "torn-record", &base[..h + r + 1]);
    write(d, "torn-batch", &base[..base.len() - r - r + 3]);
    let mut zeros = base.clone();
    zeros.resize(base.len() + 100, 0);
    write(d, "zero-tail", &zeros);
    write(d, "header-only-prefix", &base[..40]);
    write(d, "all-zero-header", &[0u8; 64]);
    write(d, "all-zero-long", &[0u8; 200]);
    write(d, "empty-file", b"");
    // Damage with valid records after it: payload (Salvage opens it),
    // record header, file header, a batch entry, a batch commit.
    write(d, "damaged-payload", &flip(base.clone(), h + r + 1));
    write(d, "damaged-record-header", &flip(base.clone(), h + 8));
    write(d, "damaged-file-header", &flip(base.clone(), 20));
    write(
        d,
        "damaged-batch-entry",
        &flip(base.clone(), h + r + 3 + r + r + 1),
    );
    write(
        d,
        "damaged-last-batch",
        &flip(
            make(|st| {
                st.store(1, b"one").unwrap();
                st.store_batch(&[(2, b"two"), (3, b"three")]).unwrap();
            }),
            h + r + 3 + r + 4,
        ),
    );
    let mut version = base.clone();
    version[8] = 2;
    write(d, "future-version", &version);
}

/// Inputs for the structured targets are built with this encoder, which
/// mirrors `history::decode_ops`.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn b(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn put(self, id: u8, len: u8, seed: u8) -> Self {
        self.b(&[0, id, len, seed])
    }
    fn del(self, id: u8) -> Self {
        self.b(&[4, id])
    }
    fn batch(mut self, entries: &[(u8, u8, u8)]) -> Self {
        self.0.extend_from_slice(&[6, entries.len() as u8 - 1]);
        for (id, len, seed) in entries {
            self.0.extend_from_slice(&[*id, *len, *seed]);
        }
        self
    }
    fn snap(self) -> Self {
        self.b(&[7])
    }
}

/// durability, op count - 1, then the ops.
fn ops(durability: u8, n: u8) -> Enc {
    Enc::default().b(&[durability, n - 1])
}

fn standard(e: Enc) -> Enc {
    e.put(1, 3, 10)
        .batch(&[(2, 5, 20), (3, 0, 30), (2, 7, 40)])
        .put(4, 60, 50)
        .del(1)
        .put(3, 250, 60) // 250: a long payload, length from the next u16
        .b(&[0x10, 0x02, 70])
}

fn log_ops(d: &Path) {
    let s = |e: Enc| standard(e).0;
    let w = |name: &str, v: Vec<u8>| write(d, name, &v);
    w("no-edit", s(ops(0, 5)).into_iter().chain([0]).collect());
    // Edits: count, then each (see open_log_ops::apply_edits).
    let with = |dur: u8, edits: &[&[u8]]| {
        let mut v = s(ops(dur, 5));
        v.push(edits.len() as u8);
        for e in edits {
            v.extend_from_slice(e);
        }
        v
    };
    w("cut-near-write-2", with(1, &[&[1, 2, 7]]));
    w("cut-in-batch", with(2, &[&[1, 1, 40]]));
    w("truncate", with(0, &[&[0, 0x20, 0x01]]));
    w("zero-range", with(0, &[&[2, 0x70, 0x00, 12]]));
    w(
        "flip-payload-then-later",
        with(1, &[&[3, 0x66, 0x00, 0x04]]),
    );
    w("flip-header", with(1, &[&[3, 0x48, 0x00, 0x01]]));
    w("zero-extend", with(2, &[&[5, 0x00, 0x01]]));
    w("junk-tail", with(0, &[&[6, 8, 1, 0, 0, 0, 9, 9, 9, 9]]));
    w(
        "copy-record",
        with(0, &[&[7, 0x40, 0x00, 0x00, 0x01, 0x40, 0x00]]),
    );
    w(
        "reseal-after-edit",
        with(0, &[&[4, 0x50, 0x00, 0x09], &[8, 0]]),
    );
    w(
        "reseal-at",
        with(0, &[&[4, 0x48, 0x00, 0x63], &[9, 0x40, 0x00]]),
    );
    w("cut-then-zeros", with(2, &[&[1, 3, 5], &[5, 0x40, 0x00]]));
    w("many-writes", {
        let mut e = ops(1, 24);
        for i in 0..24u8 {
            e = if i % 6 == 5 {
                e.del(i % 5)
            } else {
                e.put(i % 5, i * 3, i)
            };
        }
        let mut v = e.0;
        v.extend_from_slice(&[2, 3, 0x30, 0x01, 0x08, 1, 9, 3]);
        v
    });
}

fn snapshots(d: &Path) {
    // After the ops: truncate?, mode, (file bytes), generation, position,
    // recovery (see open_snapshot::run).
    let base = |e: Enc| standard(e.put(5, 9, 1)).snap();
    let tail = |e: Enc, rest: &[u8]| e.put(6, 4, 2).del(5).b(rest).0;
    let w = |name: &str, v: Vec<u8>| write(d, name, &v);
    w("real-snapshot-only", tail(base(ops(0, 9)), &[1, 3, 0]));
    w("real-snapshot-salvage", tail(base(ops(1, 9)), &[1, 3, 1]));
    w(
        "log-cut-after-snapshot",
        tail(base(ops(2, 9)), &[0, 8, 3, 3, 0]),
    );
    w(
        "log-cut-before-snapshot",
        tail(base(ops(0, 9)), &[0, 2, 3, 3, 2]),
    );
    w(
        "mutated-real",
        tail(base(ops(0, 9)), &[1, 1, 0, 0, 0x50, 0x00, 0x01, 5, 0]),
    );
    w(
        "truncated-real",
        tail(base(ops(1, 9)), &[1, 1, 0, 1, 0x44, 0x00, 5, 0]),
    );
    w(
        "forged-position",
        tail(base(ops(0, 9)), &[1, 2, 0, 6, 0, 3, 5, 1, 0]),
    );
    w(
        "forged-entry",
        tail(base(ops(0, 9)), &[1, 2, 1, 2, 0, 4, 1, 5, 0, 1]),
    );
    w(
        "forged-damaged-bit",
        tail(base(ops(0, 9)), &[1, 2, 0, 4, 1, 5, 0, 1]),
    );
    w(
        "raw-bytes",
        tail(
            base(ops(0, 9)),
            &[
                1, 0, 16, 0, 0x57, 0x41, 0x4c, 0x53, 0x53, 0x4e, 0x41, 0x50, 1, 0, 0, 0, 0, 0, 0,
                0, 5, 0, 0,
            ],
        ),
    );
    w(
        "no-snapshot-forged",
        ops(0, 2)
            .put(1, 3, 3)
            .put(2, 4, 4)
            .b(&[1, 2, 0, 6, 0, 1, 5, 1, 0])
            .0,
    );
    w("two-snapshots", {
        let e = ops(1, 8)
            .put(1, 3, 3)
            .snap()
            .put(2, 4, 4)
            .batch(&[(3, 1, 1), (4, 2, 2)]);
        e.snap().del(1).put(7, 70, 7).put(8, 8, 8).b(&[1, 3, 2]).0
    });
}

fn api(d: &Path) {
    // Options: durability, recovery, flags (1: write buffer u16, 2: max
    // payload u16, 4: snapshot threshold u16); then ops (see api_ops::run).
    let w = |name: &str, v: &[u8]| write(d, name, v);
    let body: &[u8] = &[
        0, 1, 0, 3, b'o', b'n', b'e', // store id 1 "one"
        0, 2, 0, 5, 0, b'h', b'e', b'l', b'l', b'o', // store id 2
        4, 1, // retrieve 1
        5, 2, 3, // retrieve_into 2, capacity 3 (too small)
        5, 2, 9, // retrieve_into 2, capacity 9
        3, 3, 1, 0, 2, 0, b'a', b'b', 2, 0, 1, 0, b'c', 3, 0, 0, 0, // batch of 3
        6, 1, // delete 1
        6, 1, // delete 1 again: NotFound
        11, 2,  // payload_len 2
        7,  // sync
        8,  // snapshot
        12, // should_snapshot
        0, 5, 241, 0x20, 0x00, 9, // store id 5, long payload
        9, 2, 1, 0, // reopen: None, Salvage, default options
        4, 2, 4, 5, 4, 1, 10, // retrieve 2, 5, 1; read-only look
        6, 2, 8, 12, 9, 1, 2, 6, 0x40, 0x00, 0x10, 0x00, 0x20,
        0x00, // delete, snapshot, reopen
        0, 9, 0, 0, 0, 7, 0, 250, 0, 200, 0, 0, 0, // more stores
    ];
    let mut v = vec![0, 0, 0];
    v.extend_from_slice(body);
    w("mixed-fsync", &v);
    let mut v = vec![2, 0, 1, 0x20, 0x00];
    v.extend_from_slice(body);
    w("mixed-none-small-buffer", &v);
    let mut v = vec![1, 2, 2, 0x40, 0x00];
    v.extend_from_slice(body);
    w("mixed-flush-max-payload", &v);
    let mut v = vec![2, 0, 5, 0x08, 0x00, 0x30, 0x00];
    for i in 0..40u8 {
        v.extend_from_slice(&[i % 3, i.wrapping_mul(7), 0, 4, 1, 2, 3, 4]);
        if i % 4 == 3 {
            v.extend_from_slice(&[6, i.wrapping_mul(5)]);
        }
        if i % 9 == 8 {
            v.extend_from_slice(&[8, 9, 2, 5, 0x10, 0x00, 12]);
        }
    }
    w("churn-none-buffer", &v);
}
