"""The open report after a torn tail, and recovery modes."""

import os
import re

import pytest
import walstore
from conftest import FILE_HEADER, LOG_NAME, RECORD_HEADER, log_of

GARBAGE = b"garbage!" * 5 + b"\x00\x01\x02"


def store_and_tear(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"abc")
        s.store_batch([(2, b"two"), (3, b"three")])
    end = FILE_HEADER + RECORD_HEADER + 3 + 4 * RECORD_HEADER + 3 + 5
    log = log_of(store_dir)
    assert os.path.getsize(log) == end
    with open(log, "ab") as f:
        f.write(GARBAGE)
    return end


def test_torn_tail_is_saved_cut_and_reported(store_dir):
    end = store_and_tear(store_dir)
    log = log_of(store_dir)
    with walstore.Store(store_dir) as s:
        r = s.open_report
        assert r.records_replayed == 3
        assert r.damaged_records == 0
        assert r.snapshot_used is None
        assert r.reinitialised is False
        tail = r.torn_tail
        assert type(tail) is walstore.TornTail
        assert tail.offset == end
        assert tail.bytes == len(GARBAGE)
        # docs/FORMAT.md 2: wal-<gen>.log.cut-<offset as 16 hex digits>-<unix nanos>
        assert os.path.dirname(tail.path) == str(store_dir)
        assert re.fullmatch(rf"{re.escape(LOG_NAME)}\.cut-{end:016x}-\d+", os.path.basename(tail.path))
        with open(tail.path, "rb") as f:
            assert f.read() == GARBAGE
        assert os.path.getsize(log) == end  # cut
        assert [s.retrieve(i) for i in (1, 2, 3)] == [b"abc", b"two", b"three"]
        s.store(4, b"after the cut")
    with walstore.Store(store_dir) as s:
        assert s.open_report.torn_tail is None
        assert s.open_report.records_replayed == 4
        assert s.retrieve(4) == b"after the cut"
    # the open report outlives the store
    assert r.torn_tail.bytes == len(GARBAGE)


def test_torn_tail_read_only_open_reports_it_and_cuts_nothing(store_dir):
    end = store_and_tear(store_dir)
    log = log_of(store_dir)
    with walstore.Store(store_dir, read_only=True) as s:
        assert s.open_report == walstore.OpenReport(
            records_replayed=3,
            damaged_records=0,
            torn_tail=walstore.TornTail(offset=end, bytes=len(GARBAGE), path=None),
            snapshot_used=None,
            reinitialised=False,
        )
        assert s.retrieve(3) == b"three"
    assert os.path.getsize(log) == end + len(GARBAGE)
    assert sorted(os.listdir(store_dir)) == ["LOCK", LOG_NAME]


def test_torn_tail_absolute_refuses_to_cut(store_dir):
    end = store_and_tear(store_dir)
    log = log_of(store_dir)
    with pytest.raises(walstore.CorruptionError) as e:
        walstore.Store(store_dir, recovery=walstore.Recovery.ABSOLUTE)
    assert type(e.value) is walstore.CorruptionError
    assert e.value.status is walstore.Status.CORRUPTION
    assert e.value.message.startswith(f"wal_open: corruption in {log} at offset {end}: ")
    assert os.path.getsize(log) == end + len(GARBAGE)
    assert sorted(os.listdir(store_dir)) == ["LOCK", LOG_NAME]


def test_torn_tail_salvage_cuts_it_too(store_dir):
    end = store_and_tear(store_dir)
    with walstore.Store(store_dir, recovery="salvage") as s:
        assert s.open_report.torn_tail.offset == end
        assert s.open_report.torn_tail.bytes == len(GARBAGE)
        assert s.open_report.damaged_records == 0
    assert os.path.getsize(log_of(store_dir)) == end


def test_a_half_written_last_record_is_a_torn_tail(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"kept")
        s.store(2, b"0123456789")
    log = log_of(store_dir)
    full = os.path.getsize(log)
    os.truncate(log, full - 4)  # the last record lost its last 4 bytes
    start = FILE_HEADER + RECORD_HEADER + 4
    with walstore.Store(store_dir) as s:
        tail = s.open_report.torn_tail
        assert (tail.offset, tail.bytes) == (start, RECORD_HEADER + 10 - 4)
        assert s.open_report.records_replayed == 1
        assert s.retrieve(1) == b"kept"
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(2)
