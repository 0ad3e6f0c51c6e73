"""Every Store method on the happy path, with exact results."""

import array
import os
import pathlib

import pytest
import walstore
from conftest import FILE_HEADER, RECORD_HEADER, log_of


def test_store_retrieve_delete(store_dir):
    with walstore.Store(store_dir) as s:
        assert s.log_position == FILE_HEADER
        s.store(1, b"hello")
        assert s.retrieve(1) == b"hello"
        assert type(s.retrieve(1)) is bytes
        assert s.log_position == FILE_HEADER + RECORD_HEADER + 5
        s.store(1, b"replaced")
        assert s.retrieve(1) == b"replaced"
        s.delete(1)  # a tombstone: a record with no payload
        assert s.log_position == FILE_HEADER + 3 * RECORD_HEADER + 5 + 8
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(1)
        s.sync()


def test_binary_payload_round_trips_exactly(store_dir):
    payload = bytes(range(256)) * 40 + b"\x00\x00"
    with walstore.Store(store_dir) as s:
        s.store(7, payload)
        assert s.retrieve(7) == payload


def test_zero_length_payload(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(5, b"")
        assert s.retrieve(5) == b""
        assert s.retrieve_into(5, bytearray()) == 0
        buf = bytearray(b"zz")
        assert s.retrieve_into(5, buf) == 0
        assert buf == b"zz"
        s.store_batch([(6, b""), (7, bytearray())])
        assert s.retrieve(6) == b""
        assert s.retrieve(7) == b""
        assert s.log_position == FILE_HEADER + 5 * RECORD_HEADER  # store + begin, 2 entries, commit
    with walstore.Store(store_dir) as s:
        assert s.retrieve(5) == b""
        assert s.retrieve(6) == b""


def test_bytes_like_payloads(store_dir):
    ints = array.array("I", [1, 2, 3])
    with walstore.Store(store_dir) as s:
        s.store(1, bytearray(b"from a bytearray"))
        s.store(2, memoryview(b"0123456789")[2:5])
        s.store(3, ints)
        s.store(4, memoryview(b"abcdef")[::2])  # not contiguous: copied in order
        assert s.retrieve(1) == b"from a bytearray"
        assert s.retrieve(2) == b"234"
        assert s.retrieve(3) == ints.tobytes()
        assert s.retrieve(4) == b"ace"


def test_payloads_of_the_wrong_type_raise_type_error(store_dir):
    with walstore.Store(store_dir) as s:
        with pytest.raises(TypeError, match="a payload must be a bytes-like object, not str"):
            s.store(1, "text")
        with pytest.raises(TypeError, match="a payload must be a bytes-like object, not int"):
            s.store(1, 5)
        with pytest.raises(TypeError):
            s.store("1", b"x")
        with pytest.raises(TypeError, match="store_batch takes"):
            s.store_batch([(1,)])
        with pytest.raises(TypeError, match="store_batch takes"):
            s.store_batch([5])
        assert s.log_position == FILE_HEADER  # nothing was written


def test_the_whole_id_range(store_dir):
    top = 2**64 - 1
    with walstore.Store(store_dir) as s:
        s.store(0, b"zero")
        s.store(top, b"top")
        assert s.retrieve(0) == b"zero"
        assert s.retrieve(top) == b"top"
        s.delete(top)
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(top)


def test_retrieve_into(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"abc")
        buf = bytearray(b"........")
        assert s.retrieve_into(1, buf) == 3
        assert buf == b"abc....."
        exact = bytearray(3)
        assert s.retrieve_into(1, exact) == 3
        assert exact == b"abc"
        view = memoryview(bytearray(b"xxxxxx"))[1:5]
        assert s.retrieve_into(1, view) == 3
        assert view.obj == b"xabcxx"
        words = array.array("H", [0, 0])  # 4 bytes
        assert s.retrieve_into(1, words) == 3
        assert words.tobytes() == b"abc\x00"
        # The export is released: the bytearray can be resized again.
        buf.extend(b"!")
        assert buf == b"abc.....!"
        with pytest.raises(TypeError, match="writable"):
            s.retrieve_into(1, b"read-only bytes")
        with pytest.raises(TypeError, match="contiguous"):
            s.retrieve_into(1, memoryview(bytearray(8))[::2])


def test_store_batch(store_dir):
    with walstore.Store(store_dir) as s:
        s.store_batch([(1, b"one"), (2, bytearray(b"two")), (3, memoryview(b"three"))])
        assert [s.retrieve(i) for i in (1, 2, 3)] == [b"one", b"two", b"three"]
        # begin + 3 entries + commit
        assert s.log_position == FILE_HEADER + 5 * RECORD_HEADER + 3 + 3 + 5
        s.store_batch({4: b"four", 5: b"five"})  # a mapping's items
        position = s.log_position
        s.store_batch([(6, b"six")])  # one entry: a plain store record, no framing
        assert s.log_position == position + RECORD_HEADER + 3
        assert s.retrieve(6) == b"six"
        s.store_batch((i, b"gen%d" % i) for i in range(10, 13))  # any iterable
        assert s.retrieve(4) == b"four"
        assert s.retrieve(5) == b"five"
        assert [s.retrieve(i) for i in range(10, 13)] == [b"gen10", b"gen11", b"gen12"]


def test_store_batch_same_id_twice_later_wins(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(9, b"before")
        s.store_batch([(9, b"first"), (8, b"other"), (9, b"second")])
        assert s.retrieve(9) == b"second"
        assert s.retrieve(8) == b"other"
    with walstore.Store(store_dir) as s:
        assert s.retrieve(9) == b"second"
        assert s.open_report.records_replayed == 4


def test_empty_batch_is_a_no_op(store_dir):
    with walstore.Store(store_dir) as s:
        s.store_batch([])
        s.store_batch(iter(()))
        assert s.log_position == FILE_HEADER


def test_reopen_persists_stores_deletes_and_batches(store_dir):
    with walstore.Store(store_dir) as s:
        for i in range(20):
            s.store(i, b"value %d" % i)
        for i in range(0, 20, 4):
            s.delete(i)
        s.store_batch([(3, b"three again"), (100, b"hundred")])
        position = s.log_position
    with walstore.Store(store_dir) as s:
        assert s.log_position == position
        for i in range(20):
            if i % 4 == 0:
                with pytest.raises(walstore.NotFoundError):
                    s.retrieve(i)
            elif i == 3:
                assert s.retrieve(3) == b"three again"
            else:
                assert s.retrieve(i) == b"value %d" % i
        assert s.retrieve(100) == b"hundred"
        r = s.open_report
        assert r == walstore.OpenReport(
            records_replayed=27, damaged_records=0, torn_tail=None, snapshot_used=None, reinitialised=False
        )


def test_paths_may_be_str_bytes_or_pathlike(tmp_path):
    for i, p in enumerate((str(tmp_path / "a"), os.fsencode(tmp_path / "b"), pathlib.Path(tmp_path / "c"))):
        with walstore.Store(p) as s:
            s.store(i, b"x")
            assert s.path == os.fsdecode(p)
        assert (pathlib.Path(os.fsdecode(p)) / "LOCK").is_file()


@pytest.mark.parametrize(
    "durability", [walstore.Durability.FSYNC, walstore.Durability.FLUSH, walstore.Durability.NONE, "flush", 2]
)
def test_every_durability_level_reads_its_writes_and_persists(store_dir, durability):
    with walstore.Store(store_dir, durability=durability) as s:
        s.store(1, b"a")
        s.store_batch([(2, b"b")])
        assert s.retrieve(1) == b"a"
        assert s.retrieve(2) == b"b"
    with walstore.Store(store_dir) as s:
        assert s.retrieve(1) == b"a"
        assert s.retrieve(2) == b"b"


def written_size(log):
    """The log's size up to its last non-zero byte: an open store's log runs a
    preallocation step (1 MiB) ahead of its records, in zeros. The records
    written here all end with a non-zero byte."""
    return len(log.read_bytes().rstrip(b"\0"))


def test_flush_durability_writes_at_once(store_dir):
    with walstore.Store(store_dir, durability="FLUSH") as s:
        s.store(1, b"0123456789")
        assert written_size(log_of(store_dir)) == FILE_HEADER + RECORD_HEADER + 10
        assert os.path.getsize(log_of(store_dir)) == 1 << 20
    assert os.path.getsize(log_of(store_dir)) == FILE_HEADER + RECORD_HEADER + 10


def test_none_durability_buffers_until_sync(store_dir):
    log = log_of(store_dir)
    with walstore.Store(store_dir, durability=walstore.Durability.NONE, write_buffer=4096) as s:
        s.store(1, b"0123456789")
        assert os.path.getsize(log) == FILE_HEADER  # still in the process's buffer
        assert s.retrieve(1) == b"0123456789"  # reads see buffered writes
        s.sync()
        assert written_size(log) == FILE_HEADER + RECORD_HEADER + 10
        s.store(2, b"xy")
        assert written_size(log) == FILE_HEADER + RECORD_HEADER + 10
    # close flushed it
    assert os.path.getsize(log) == FILE_HEADER + 2 * RECORD_HEADER + 12


def test_none_durability_writes_a_call_larger_than_the_buffer_directly(store_dir):
    with walstore.Store(store_dir, durability="none", write_buffer=16) as s:
        s.store(1, b"x" * 100)
        assert written_size(log_of(store_dir)) == FILE_HEADER + RECORD_HEADER + 100


def test_max_payload_is_the_largest_accepted(store_dir):
    with walstore.Store(store_dir, max_payload=8) as s:
        s.store(1, b"12345678")
        assert s.retrieve(1) == b"12345678"


def test_should_snapshot_threshold_is_inclusive(store_dir):
    # growth since the start of the log (offset 64) >= threshold
    # (no automatic snapshot: it would reset the growth in the background)
    with walstore.Store(store_dir, snapshot_threshold=RECORD_HEADER + 8 + 1, auto_snapshot=False) as s:
        assert s.should_snapshot() is False
        s.store(1, b"8 bytes!")
        assert s.should_snapshot() is False  # grown by 40, threshold 41
    with walstore.Store(store_dir, snapshot_threshold=RECORD_HEADER + 8, auto_snapshot=False) as s:
        assert s.should_snapshot() is True  # grown by 40, threshold 40
        s.snapshot()
        assert s.should_snapshot() is False
        s.store(2, b"8 bytes!")
        assert s.should_snapshot() is True


def test_should_snapshot_is_false_with_a_zero_threshold(store_dir):
    with walstore.Store(store_dir, snapshot_threshold=0) as s:
        s.store(1, b"x" * 1000)
        assert s.should_snapshot() is False


def test_should_snapshot_default_threshold_is_64_mib(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"x" * 1000)
        assert s.should_snapshot() is False


def test_snapshot_then_reopen_replays_only_the_log_after_it(store_dir):
    with walstore.Store(store_dir, durability="flush") as s:
        assert s.snapshot_position == FILE_HEADER  # no snapshot yet
        for i in range(5):
            s.store(i, b"v%d" % i)
        s.delete(0)
        s.snapshot()
        position = s.snapshot_position
        assert position == s.log_position == FILE_HEADER + 6 * RECORD_HEADER + 5 * 2
    assert len(list(pathlib.Path(store_dir).glob("snapshot-*.snap"))) == 1

    with walstore.Store(store_dir) as s:
        assert s.open_report == walstore.OpenReport(
            records_replayed=0, damaged_records=0, torn_tail=None, snapshot_used=position, reinitialised=False
        )
        assert s.snapshot_position == position
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(0)
        assert [s.retrieve(i) for i in range(1, 5)] == [b"v1", b"v2", b"v3", b"v4"]
        s.store(1, b"after")
        s.store(9, b"nine")

    with walstore.Store(store_dir) as s:
        assert s.open_report.records_replayed == 2
        assert s.open_report.snapshot_used == position
        assert s.retrieve(1) == b"after"
        assert s.retrieve(9) == b"nine"
        assert s.retrieve(2) == b"v2"


def test_read_only_store_reads_and_sync_is_a_no_op(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"data")
    size = os.path.getsize(log_of(store_dir))
    with walstore.Store(store_dir, read_only=True) as r1, walstore.Store(store_dir, read_only=True) as r2:
        assert r1.read_only is True
        assert r1.retrieve(1) == b"data"
        assert r2.retrieve(1) == b"data"
        r1.sync()
        assert r1.should_snapshot() is False
    assert os.path.getsize(log_of(store_dir)) == size


def test_open_report_of_a_new_store(store_dir):
    with walstore.Store(store_dir) as s:
        assert s.open_report == walstore.OpenReport(
            records_replayed=0, damaged_records=0, torn_tail=None, snapshot_used=None, reinitialised=False
        )


def test_open_report_after_an_empty_log_is_reinitialised(store_dir):
    os.makedirs(store_dir)
    log_of(store_dir).write_bytes(b"")  # a crash while creating the log
    with walstore.Store(store_dir) as s:
        assert s.open_report == walstore.OpenReport(
            records_replayed=0, damaged_records=0, torn_tail=None, snapshot_used=None, reinitialised=True
        )
        s.store(1, b"x")
    assert os.path.getsize(log_of(store_dir)) == FILE_HEADER + RECORD_HEADER + 1


def test_open_report_is_frozen(store_dir):
    import dataclasses

    with walstore.Store(store_dir) as s:
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.open_report.records_replayed = 5
