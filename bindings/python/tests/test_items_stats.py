"""Store.items() (a point-in-time cursor) and Store.stats()."""

import threading
import time

import pytest
import walstore
from conftest import FILE_HEADER, RECORD_HEADER, flip_byte, log_of


def test_items_in_id_order_with_exact_payloads(store_dir):
    top = 2**64 - 1
    with walstore.Store(store_dir) as s:
        s.store(top, b"top")
        s.store(5, b"five")
        s.store(0, b"")
        s.store_batch([(3, b"three"), (4, b"x"), (4, b"four")])
        s.store(9, b"gone")
        s.delete(9)
        assert list(s.items()) == [(0, b""), (3, b"three"), (4, b"four"), (5, b"five"), (top, b"top")]
        for id, payload in s.items():
            assert type(id) is int and type(payload) is bytes


def test_items_of_an_empty_store(store_dir):
    with walstore.Store(store_dir) as s:
        assert list(s.items()) == []


def test_items_is_a_point_in_time_view(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"one")
        s.store(2, b"two")
        s.store(3, b"three")
        cursor = s.items()
        assert next(cursor) == (1, b"one")
        s.store(2, b"TWO")
        s.delete(3)
        s.store(0, b"new, before the cursor")
        s.store(4, b"new, after it")
        assert list(cursor) == [(2, b"two"), (3, b"three")]
        assert list(s.items()) == [(0, b"new, before the cursor"), (1, b"one"), (2, b"TWO"), (4, b"new, after it")]


def test_an_exhausted_cursor_stays_exhausted(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"x")
        cursor = s.items()
        assert list(cursor) == [(1, b"x")]
        with pytest.raises(StopIteration):
            next(cursor)
        s.store(2, b"y")
        with pytest.raises(StopIteration):
            next(cursor)


def test_a_closed_cursor_stops(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"x")
        s.store(2, b"y")
        with s.items() as cursor:
            assert next(cursor) == (1, b"x")
        with pytest.raises(StopIteration):
            next(cursor)
        cursor.close()  # idempotent


def test_a_damaged_payload_raises_and_the_cursor_moves_on(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"first-payload")  # its payload starts at byte 96
        s.store(2, b"second")
        flip_byte(log_of(store_dir), FILE_HEADER + RECORD_HEADER)
        cursor = s.items()
        with pytest.raises(walstore.CorruptionError) as e:
            next(cursor)
        assert type(e.value) is walstore.CorruptionError
        assert e.value.status is walstore.Status.CORRUPTION
        assert e.value.message.startswith("wal_iter_next: ")
        assert next(cursor) == (2, b"second")
        with pytest.raises(StopIteration):
            next(cursor)


def test_closing_the_store_frees_its_cursors(store_dir):
    s = walstore.Store(store_dir)
    s.store(1, b"x")
    s.store(2, b"y")
    cursor = s.items()
    assert next(cursor) == (1, b"x")
    s.close()
    with pytest.raises(walstore.ClosedError) as e:
        next(cursor)
    assert e.value.message == f"walstore store {str(store_dir)!r} is closed"
    with pytest.raises(walstore.ClosedError):
        s.items()
    cursor.close()


def test_items_on_a_read_only_store(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(2, b"b")
        s.store(1, b"a")
    with walstore.Store(store_dir, read_only=True) as r:
        assert list(r.items()) == [(1, b"a"), (2, b"b")]


def test_cursors_in_threads_beside_writers(store_dir):
    with walstore.Store(store_dir, durability="flush") as s:
        s.store_batch((i, b"v%d" % i) for i in range(100))
        expected = [(i, b"v%d" % i) for i in range(100)]
        seen, errors = [], []
        start = threading.Barrier(4)

        def iterate():
            try:
                start.wait()
                cursor = s.items()
                seen.append(list(cursor))
            except BaseException as e:
                errors.append(e)

        def write():
            try:
                start.wait()
                for i in range(100):
                    s.store(i, b"changed")
                    s.store(1000 + i, b"new")
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=f) for f in (iterate, iterate, iterate, write)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            assert not t.is_alive()
        assert errors == []
        # each cursor saw one consistent point in time: for every id, either
        # the old or the changed payload, and ids >= 1000 only once written
        for items in seen:
            ids = [i for i, _ in items]
            assert ids == sorted(ids)
            assert [i for i in ids if i < 1000] == list(range(100))
            assert all(p in (b"v%d" % i, b"changed") for i, p in items if i < 1000)
            assert all(p == b"new" for i, p in items if i >= 1000)
        assert list(s.items()) == [(i, b"changed") for i in range(100)] + [(1000 + i, b"new") for i in range(100)]
        assert expected  # (unused otherwise)


AUTO = walstore._lib.has("wal_options_set_auto_snapshot")
NO_AUTO = "the library has no automatic snapshots (wal_options_set_auto_snapshot)"


def counters(auto_snapshots=0, failures=0):
    """The automatic-snapshot counters Stats holds for this library."""
    if AUTO:
        return {"auto_snapshots": auto_snapshots, "auto_snapshot_failures": failures}
    return {"auto_snapshots": None, "auto_snapshot_failures": None}


def test_stats_of_an_empty_store(store_dir):
    with walstore.Store(store_dir) as s:
        assert s.stats() == walstore.Stats(
            live_ids=0, live_bytes=0, log_bytes=FILE_HEADER, dead_bytes=0, dead_ratio=0.0, **counters()
        )


def test_stats_count_live_and_dead_bytes(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"abc")
        s.store(2, b"hello")
        s.store(1, b"xy")  # overwrites 1: its first record (32 + 3) is dead
        s.delete(2)  # 2's record (32 + 5) and the tombstone (32) are dead
        s.store_batch([(3, b"b"), (4, b"")])  # the begin and commit records (2 * 32) are dead
        log_bytes = FILE_HEADER + (32 + 3) + (32 + 5) + (32 + 2) + 32 + (32 + (32 + 1) + 32 + 32)
        dead = (32 + 3) + (32 + 5) + 32 + 2 * 32
        st = s.stats()
        assert st == walstore.Stats(
            live_ids=3,
            live_bytes=3,
            log_bytes=log_bytes,
            dead_bytes=dead,
            dead_ratio=dead / (log_bytes - FILE_HEADER),
            **counters(),
        )
        assert st.log_bytes == s.log_position
    with walstore.Store(store_dir) as s:  # the same after a replay
        assert s.stats() == st


def test_open_duration_is_reported(store_dir):
    with walstore.Store(store_dir) as s:
        d = s.open_report.duration_us
    assert type(d) is int
    assert 0 <= d < 60_000_000


@pytest.mark.skipif(not AUTO, reason=NO_AUTO)
def test_automatic_snapshot_when_a_write_crosses_the_threshold(store_dir):
    threshold = RECORD_HEADER + 8
    with walstore.Store(store_dir, snapshot_threshold=threshold) as s:  # auto_snapshot is on by default
        s.store(1, b"7 bytes")  # grown by 39: below the threshold
        s.store(2, b"x")  # grown by 72: this write starts a snapshot at 136
        deadline = time.monotonic() + 30
        while s.stats().auto_snapshots + s.stats().auto_snapshot_failures == 0:
            assert time.monotonic() < deadline, "no automatic snapshot within 30 s"
            time.sleep(0.01)
        st = s.stats()
        assert (st.auto_snapshots, st.auto_snapshot_failures) == (1, 0)
        assert s.snapshot_position == FILE_HEADER + 2 * RECORD_HEADER + 8
    with walstore.Store(store_dir, auto_snapshot=False) as s:
        assert s.open_report.snapshot_used == FILE_HEADER + 2 * RECORD_HEADER + 8
        assert s.open_report.records_replayed == 0
        assert (s.retrieve(1), s.retrieve(2)) == (b"7 bytes", b"x")
        st = s.stats()
        assert (st.auto_snapshots, st.auto_snapshot_failures) == (0, 0)  # counted since the open


@pytest.mark.skipif(not AUTO, reason=NO_AUTO)
def test_no_automatic_snapshot_when_turned_off(store_dir):
    with walstore.Store(store_dir, snapshot_threshold=1, auto_snapshot=False) as s:
        s.store(1, b"x" * 100)
        assert s.should_snapshot() is True
        assert s.stats().auto_snapshots == 0
    assert list(store_dir.glob("snapshot-*")) == []
    with walstore.Store(store_dir) as s:
        assert s.open_report.snapshot_used is None


def test_auto_snapshot_false_is_accepted_by_any_library(store_dir):
    with walstore.Store(store_dir, auto_snapshot=False) as s:
        s.store(1, b"x")
        assert s.retrieve(1) == b"x"


def test_a_library_without_automatic_snapshots(store_dir, monkeypatch):
    # As with a libwalstore built before wal_options_set_auto_snapshot.
    monkeypatch.setattr(walstore._store, "has", lambda name: False)
    with pytest.raises(NotImplementedError, match="no automatic snapshots"):
        walstore.Store(store_dir, auto_snapshot=True)
    assert not store_dir.exists()
    with walstore.Store(store_dir, auto_snapshot=False) as s:
        st = s.stats()
        assert (st.auto_snapshots, st.auto_snapshot_failures) == (None, None)
