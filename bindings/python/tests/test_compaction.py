"""Store.compact(), the auto_compact option, the compaction figures of
Store.stats(), Cursor.seq, and the messages of failed background work."""

import errno
import math
import os
import time

import pytest
import walstore
from conftest import FILE_HEADER, LOG_NAME, RECORD_HEADER
from walstore import _lib

NEW_IN_0_2 = {
    "wal_compact",
    "wal_options_set_auto_compact",
    "wal_stat_generation",
    "wal_stat_auto_compactions",
    "wal_stat_auto_compaction_failures",
    "wal_stat_last_auto_snapshot_error",
    "wal_stat_last_auto_compaction_error",
    "wal_iter_seq",
}


def value(id, version, n):
    return bytes([(id * 10 + version) % 256]) * n


def wait_stats(s, done):
    """Polls stats() every 5 ms, for at most 30 s, until done(stats)."""
    deadline = time.monotonic() + 30
    st = s.stats()
    while not done(st):
        assert time.monotonic() < deadline, f"timed out: {st}"
        time.sleep(0.005)
        st = s.stats()
    return st


def eisdir(path):
    """The library's message for a failed removal of `path`, a directory."""
    return f"remove {path}: {os.strerror(errno.EISDIR)} (os error {errno.EISDIR})"


def test_the_compaction_functions_are_required():
    assert NEW_IN_0_2 <= set(_lib._SIGNATURES)
    assert not NEW_IN_0_2 & _lib.OPTIONAL
    assert not NEW_IN_0_2 & _lib.missing


def test_compaction_reclaims_space_and_keeps_every_read(store_dir):
    # Ids 1..10 written twice (100 bytes: 132 on disk), 9 and 10 deleted
    # (32 each): sequence numbers 1..22.
    rec = RECORD_HEADER + 100
    want = {}
    with walstore.Store(store_dir) as s:
        assert s.generation == 1
        for version in (1, 2):
            for id in range(1, 11):
                s.store(id, value(id, version, 100))
                want[id] = value(id, version, 100)
        s.delete(9)
        s.delete(10)
        del want[9], want[10]
        before = s.stats()
        assert before.log_bytes == FILE_HEADER + 20 * rec + 2 * RECORD_HEADER
        assert before.dead_bytes == 12 * rec + 2 * RECORD_HEADER
        assert (before.generation, before.auto_compactions, before.auto_compaction_failures) == (1, 0, 0)
        old = s.items()  # opened before: reads its point in time after
        assert old.seq == 22

        assert s.compact() is None
        assert s.stats() == walstore.Stats(
            live_ids=8,
            live_bytes=800,
            log_bytes=FILE_HEADER + 8 * rec,
            dead_bytes=0,
            dead_ratio=0.0,
            auto_snapshots=0,
            auto_snapshot_failures=0,
            generation=2,
            auto_compactions=0,
            auto_compaction_failures=0,
            last_auto_snapshot_error=None,
            last_auto_compaction_error=None,
        )
        assert s.generation == 2
        assert sorted(p.name for p in store_dir.glob("wal-*")) == ["wal-0000000000000002.log"]
        assert (store_dir / "wal-0000000000000002.log").stat().st_size == FILE_HEADER + 8 * rec
        assert dict(old) == want
        assert {id: s.retrieve(id) for id in want} == want
        for gone in (9, 10):
            with pytest.raises(walstore.NotFoundError):
                s.retrieve(gone)
        with s.items() as c:
            assert c.seq == 22  # numbering is kept
        s.store(11, b"eleven")
        want[11] = b"eleven"
        with s.items() as c:
            assert c.seq == 23
            assert dict(c) == want
    with walstore.Store(store_dir) as s:
        assert s.generation == 2
        assert s.open_report.records_replayed == 9
        assert dict(s.items()) == want
        s.compact()  # nothing dead: every byte kept, in generation 3
        st = s.stats()
        assert (st.generation, st.log_bytes, st.dead_bytes) == (3, FILE_HEADER + 8 * rec + RECORD_HEADER + 6, 0)
        assert not (store_dir / "wal-0000000000000002.log").exists()
        assert dict(s.items()) == want


def test_a_read_only_store_refuses_to_compact(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"one")
        s.store(1, b"uno")
    with walstore.Store(store_dir, read_only=True) as s:
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.compact()
        assert e.value.message == (
            f"wal_compact: invalid argument: compact refused: the store in {store_dir} was opened read-only"
        )
        assert s.generation == 1
        assert (store_dir / LOG_NAME).exists()


def test_closed_store(store_dir):
    s = walstore.Store(store_dir)
    c = s.items()
    s.close()
    with pytest.raises(walstore.ClosedError):
        s.compact()
    with pytest.raises(walstore.ClosedError):
        s.generation
    with pytest.raises(walstore.ClosedError):
        s.stats()
    assert c.seq == 0  # read at open: still there


def test_cursor_seq(store_dir):
    with walstore.Store(store_dir) as s:
        with s.items() as c:
            assert c.seq == 0
        s.store(1, b"a")
        s.store_batch([(2, b"b"), (3, b"c")])  # begin 2, entries 3 and 4, commit 5
        c = s.items()
        s.store(4, b"later")
        assert c.seq == 5
        assert list(c) == [(1, b"a"), (2, b"b"), (3, b"c")]
        assert c.seq == 5


@pytest.mark.parametrize(
    "ratio,shown", [(-0.5, "-0.5"), (1.0, "1"), (1.5, "1.5"), (math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")]
)
def test_auto_compact_refuses_ratios_outside_0_to_1(store_dir, ratio, shown):
    with pytest.raises(walstore.InvalidArgumentError) as e:
        walstore.Store(store_dir, auto_compact=(ratio, 0))
    assert e.value.message == (
        f"wal_options_set_auto_compact: invalid argument: dead-byte ratio {shown} "
        "for automatic compaction is outside [0, 1)"
    )
    assert not store_dir.exists()


def test_auto_compact_argument_types(store_dir):
    for bad in ((0.5,), [0.5, 0], True, 0.5, "0.5"):
        with pytest.raises(TypeError):
            walstore.Store(store_dir, auto_compact=bad)
    with pytest.raises(TypeError):
        walstore.Store(store_dir, auto_compact=("0.5", 0))
    with pytest.raises(walstore.InvalidArgumentError):
        walstore.Store(store_dir, auto_compact=(0.5, -1))
    assert not store_dir.exists()


def rounds(s, n=6):
    """n versions of ids 0..199, 1000 bytes each: 6 rounds make 1.24 MB,
    83% dead. The ratio is looked at once per MiB of log growth."""
    for version in range(1, n + 1):
        for id in range(200):
            s.store(id, value(id, version, 1000))


def test_automatic_compaction_past_the_dead_ratio(tmp_path):
    with walstore.Store(tmp_path / "on", durability="flush", auto_compact=(0.5, 256 << 10)) as s:
        rounds(s)
        st = wait_stats(s, lambda st: st.auto_compactions >= 1)
        assert st.generation == 1 + st.auto_compactions
        assert (st.auto_compaction_failures, st.last_auto_compaction_error) == (0, None)
        assert st.log_bytes < 1 << 20
        assert all(s.retrieve(id) == value(id, 6, 1000) for id in range(200))
    with walstore.Store(tmp_path / "on") as s:
        assert s.stats().auto_compactions == 0  # counted since the open
        assert all(s.retrieve(id) == value(id, 6, 1000) for id in range(200))
    for off in (False, (0.0, 0), (0, 1)):
        d = tmp_path / f"off-{off}"
        with walstore.Store(d, durability="flush", auto_compact=off) as s:
            rounds(s)
            st = s.stats()
            assert (st.generation, st.auto_compactions) == (1, 0)
            assert st.log_bytes == FILE_HEADER + 6 * 200 * (RECORD_HEADER + 1000)


def test_failed_automatic_compactions_and_snapshots_keep_their_message(tmp_path):
    # A directory where the temporary file goes makes the work fail, even
    # for root: unlinking a directory gives EISDIR.
    d = tmp_path / "compaction"
    blocker = d / "wal-0000000000000002.log.tmp"
    with walstore.Store(d, durability="flush", snapshot_threshold=0, auto_compact=(0.5, 256 << 10)) as s:
        blocker.mkdir()
        s.store(0, b"zero")
        with pytest.raises(walstore.WalIOError) as e:
            s.compact()
        assert e.value.message == "wal_compact: " + eisdir(blocker)
        assert s.stats().last_auto_compaction_error is None  # a manual one is not counted
        rounds(s)
        st = wait_stats(s, lambda st: st.auto_compaction_failures >= 1)
        assert (st.auto_compactions, st.generation) == (0, 1)
        assert st.last_auto_compaction_error == eisdir(blocker)
        assert st.last_auto_snapshot_error is None
        blocker.rmdir()
        s.compact()
        st = s.stats()
        assert (st.generation, st.log_bytes) == (2, FILE_HEADER + 200 * (RECORD_HEADER + 1000))
        assert st.last_auto_compaction_error == eisdir(blocker)  # the last failure stays

    # A snapshot threshold of 100: the first 68-byte store, ending at 0xa4,
    # starts an automatic snapshot for that position.
    d = tmp_path / "snapshot"
    blocker = d / "snapshot-0000000000000001-00000000000000a4.snap.tmp"
    with walstore.Store(d, snapshot_threshold=100) as s:
        blocker.mkdir()
        s.store(1, bytes(68))
        st = wait_stats(s, lambda st: st.auto_snapshot_failures >= 1)
        assert (st.auto_snapshot_failures, st.auto_snapshots) == (1, 0)
        assert st.last_auto_snapshot_error == eisdir(blocker)
        assert st.last_auto_compaction_error is None
        blocker.rmdir()
