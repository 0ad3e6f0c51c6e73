"""Every exception class: its status, and how each reachable one is reached."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import walstore
from conftest import FILE_HEADER, HEADER, RECORD_HEADER, flip_byte, log_of

CLASSES = [
    (walstore.NotFoundError, walstore.Status.NOT_FOUND, 1),
    (walstore.InvalidArgumentError, walstore.Status.INVALID_ARGUMENT, 2),
    (walstore.BufferTooSmallError, walstore.Status.BUFFER_TOO_SMALL, 3),
    (walstore.WalIOError, walstore.Status.IO, 4),
    (walstore.NoSpaceError, walstore.Status.NO_SPACE, 5),
    (walstore.CorruptionError, walstore.Status.CORRUPTION, 6),
    (walstore.LockedError, walstore.Status.LOCKED, 7),
    (walstore.IncompatibleError, walstore.Status.INCOMPATIBLE, 8),
    (walstore.PoisonedError, walstore.Status.POISONED, 9),
    (walstore.PanicError, walstore.Status.PANIC, 10),
    (walstore.CompactedError, walstore.Status.COMPACTED, 11),
]


def header_enum(prefix):
    text = HEADER.read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(rf"^\s*{prefix}(\w+) = (\d+),", text, re.M)}


@pytest.mark.parametrize("cls,status,number", CLASSES)
def test_one_class_per_status(cls, status, number):
    assert issubclass(cls, walstore.Error)
    assert cls.status is status
    assert int(status) == number
    assert walstore.ERRORS_BY_STATUS[status] is cls


def test_status_values_match_the_header():
    assert {s.name: int(s) for s in walstore.Status} == header_enum("WAL_(?!DURABILITY_|RECOVERY_|CHANGE_|OP_)")
    assert {d.name: int(d) for d in walstore.Durability} == header_enum("WAL_DURABILITY_")
    assert {r.name: int(r) for r in walstore.Recovery} == header_enum("WAL_RECOVERY_")
    assert {o.name: int(o) for o in walstore.WriteOp} == header_enum("WAL_OP_")
    assert set(walstore.ERRORS_BY_STATUS) == set(walstore.Status) - {walstore.Status.OK}


def test_status_str():
    assert walstore.status_str(walstore.Status.OK) == "ok"
    assert walstore.status_str(walstore.Status.NOT_FOUND) == "not found"
    assert walstore.status_str(99) == "unknown status"


def test_closed_error_is_an_error_and_a_value_error():
    assert issubclass(walstore.ClosedError, walstore.Error)
    assert issubclass(walstore.ClosedError, ValueError)
    assert walstore.ClosedError.status is None


def test_not_found(store_dir):
    with walstore.Store(store_dir) as s:
        with pytest.raises(walstore.NotFoundError) as e:
            s.retrieve(42)
        assert type(e.value) is walstore.NotFoundError
        assert e.value.status is walstore.Status.NOT_FOUND
        assert e.value.message == "wal_retrieve_alloc: id 42 not found"
        assert str(e.value) == e.value.message
        with pytest.raises(walstore.NotFoundError) as e:
            s.retrieve_into(43, bytearray(4))
        assert e.value.message == "wal_retrieve: id 43 not found"
        with pytest.raises(walstore.NotFoundError) as e:
            s.delete(44)  # writes nothing
        assert e.value.message == "wal_delete: id 44 not found"
        assert s.log_position == FILE_HEADER


def test_buffer_too_small_reports_the_needed_length(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"12345")
        buf = bytearray(b"ab")
        with pytest.raises(walstore.BufferTooSmallError) as e:
            s.retrieve_into(1, buf)
        assert type(e.value) is walstore.BufferTooSmallError
        assert e.value.status is walstore.Status.BUFFER_TOO_SMALL
        assert e.value.needed == 5
        assert e.value.message.startswith("wal_retrieve: ")
        assert buf == b"ab"  # the payload was not read
        with pytest.raises(walstore.BufferTooSmallError) as e:
            s.retrieve_into(1, bytearray())  # a size query
        assert e.value.needed == 5


def test_invalid_argument_oversized_payload_writes_nothing(store_dir):
    with walstore.Store(store_dir, max_payload=4) as s:
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.store(1, b"12345")
        assert type(e.value) is walstore.InvalidArgumentError
        assert e.value.status is walstore.Status.INVALID_ARGUMENT
        assert e.value.message.startswith("wal_store: ")
        # one oversized entry rejects the whole batch
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.store_batch([(2, b"ok"), (3, b"too long")])
        assert e.value.message.startswith("wal_store_batch: ")
        assert s.log_position == FILE_HEADER
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(2)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda s: s.store(1, b"x"), "wal_store"),
        (lambda s: s.store_batch([(1, b"x")]), "wal_store_batch"),
        (lambda s: s.store_batch([]), "wal_store_batch"),  # even an empty batch
        (lambda s: s.delete(1), "wal_delete"),
        (lambda s: s.snapshot(), "wal_snapshot"),
        (lambda s: s.write_batch(walstore.WriteBatch().store(2, b"x").delete(1)), "wal_write_batch"),
        (lambda s: s.write_batch([]), "wal_write_batch"),  # even an empty batch
        (lambda s: s.delete_range(0, 2**64 - 1), "wal_delete_range"),
    ],
)
def test_invalid_argument_writes_to_a_read_only_store(store_dir, call, name):
    with walstore.Store(store_dir) as s:
        s.store(1, b"kept")
    size = os.path.getsize(log_of(store_dir))
    with walstore.Store(store_dir, read_only=True) as r:
        with pytest.raises(walstore.InvalidArgumentError) as e:
            call(r)
        assert type(e.value) is walstore.InvalidArgumentError
        assert e.value.status is walstore.Status.INVALID_ARGUMENT
        assert e.value.message.startswith(name + ": ")
        assert "read-only" in e.value.message
        assert r.retrieve(1) == b"kept"
    assert os.path.getsize(log_of(store_dir)) == size


@pytest.mark.parametrize(
    "options,prefix",
    [
        ({"durability": 7}, "wal_options_set_durability: "),
        ({"durability": -1}, "wal_options_set_durability: "),
        ({"recovery": 3}, "wal_options_set_recovery_mode: "),
        ({"max_payload": 0}, "wal_options_set_max_payload: "),
        ({"max_payload": 2**32}, "wal_options_set_max_payload: "),
        ({"write_buffer": 0}, "wal_options_set_write_buffer: "),
        ({"write_buffer": 2**30 + 1}, "wal_options_set_write_buffer: "),
    ],
)
def test_invalid_argument_bad_option_values_from_the_library(store_dir, options, prefix):
    with pytest.raises(walstore.InvalidArgumentError) as e:
        walstore.Store(store_dir, **options)
    assert type(e.value) is walstore.InvalidArgumentError
    assert e.value.status is walstore.Status.INVALID_ARGUMENT
    assert e.value.message.startswith(prefix)
    assert not store_dir.exists()  # nothing was opened or created


def test_option_limits_are_accepted(store_dir):
    with walstore.Store(store_dir, max_payload=2**32 - 1, write_buffer=2**30, durability="none"):
        pass
    with walstore.Store(store_dir, max_payload=1, write_buffer=1):
        pass


@pytest.mark.parametrize(
    "options,message",
    [
        ({"durability": "bogus"}, "unknown durability 'bogus' (expected one of fsync, flush, none)"),
        ({"recovery": "lenient"}, "unknown recovery 'lenient' (expected one of strict, salvage, absolute)"),
        ({"max_payload": -1}, "max_payload -1 is out of range 0..18446744073709551615"),
        ({"write_buffer": 2**64}, "write_buffer 18446744073709551616 is out of range 0..18446744073709551615"),
        ({"snapshot_threshold": -5}, "snapshot_threshold -5 is out of range 0..18446744073709551615"),
        ({"durability": 2**31}, "durability 2147483648 is out of range -2147483648..2147483647"),
    ],
)
def test_invalid_argument_bad_option_values_caught_in_python(store_dir, options, message):
    with pytest.raises(walstore.InvalidArgumentError) as e:
        walstore.Store(store_dir, **options)
    assert type(e.value) is walstore.InvalidArgumentError
    assert e.value.status is walstore.Status.INVALID_ARGUMENT
    assert e.value.message == message
    assert not store_dir.exists()


def test_option_values_of_the_wrong_type(store_dir):
    with pytest.raises(TypeError):
        walstore.Store(store_dir, max_payload="big")
    with pytest.raises(TypeError):
        walstore.Store(store_dir, durability=1.5)
    with pytest.raises(TypeError):
        walstore.Store(store_dir, durability=True)


def test_invalid_argument_ids_out_of_range(store_dir):
    with walstore.Store(store_dir) as s:
        for call in (
            lambda: s.store(-1, b"x"),
            lambda: s.store_batch([(1, b"x"), (-1, b"y")]),
            lambda: s.retrieve(-1),
            lambda: s.retrieve_into(-1, bytearray(1)),
            lambda: s.delete(-1),
        ):
            with pytest.raises(walstore.InvalidArgumentError) as e:
                call()
            assert e.value.status is walstore.Status.INVALID_ARGUMENT
            assert e.value.message == "id -1 is out of range 0..18446744073709551615"
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.store(2**64, b"x")
        assert e.value.message == "id 18446744073709551616 is out of range 0..18446744073709551615"
        assert s.log_position == FILE_HEADER


def test_invalid_argument_bad_paths(tmp_path):
    with pytest.raises(walstore.InvalidArgumentError) as e:
        walstore.Store("")
    assert e.value.status is walstore.Status.INVALID_ARGUMENT
    assert e.value.message.startswith("wal_open: ")
    bad = str(tmp_path) + "/a\0b"
    with pytest.raises(walstore.InvalidArgumentError) as e:
        walstore.Store(bad)
    assert e.value.status is walstore.Status.INVALID_ARGUMENT
    assert e.value.message == f"path {bad!r} contains a NUL byte"
    assert os.listdir(tmp_path) == []


def test_locked_by_a_second_open(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"x")
        for kwargs in ({}, {"read_only": True}):
            with pytest.raises(walstore.LockedError) as e:
                walstore.Store(store_dir, **kwargs)
            assert type(e.value) is walstore.LockedError
            assert e.value.status is walstore.Status.LOCKED
            assert e.value.message.startswith("wal_open: ")
            assert str(store_dir / "LOCK") in e.value.message
        assert s.retrieve(1) == b"x"  # the first handle is unaffected


def test_locked_writer_while_a_reader_holds_the_store(store_dir):
    walstore.Store(store_dir).close()
    with walstore.Store(store_dir, read_only=True):
        with pytest.raises(walstore.LockedError) as e:
            walstore.Store(store_dir)
        assert e.value.status is walstore.Status.LOCKED
    walstore.Store(store_dir).close()  # released on close


def write_two_records(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"first-payload")  # record at 64, payload at 96
        s.store(2, b"second")  # record at 64 + 32 + 13 = 109
    return FILE_HEADER + RECORD_HEADER  # 96: the first payload byte


def test_corruption_at_open_damage_followed_by_a_valid_record(store_dir):
    log = log_of(store_dir)
    flip_byte(log, write_two_records(store_dir))
    before = log.read_bytes()
    for recovery in ("strict", "absolute"):
        with pytest.raises(walstore.CorruptionError) as e:
            walstore.Store(store_dir, recovery=recovery)
        assert type(e.value) is walstore.CorruptionError
        assert e.value.status is walstore.Status.CORRUPTION
        m = e.value.message
        assert m.startswith(f"wal_open: corruption in {log} at offset {FILE_HEADER}: ")
        assert re.search(r"expected 0x[0-9a-f]{8}, actual 0x[0-9a-f]{8}", m)
        assert "offset 109" in m  # the later valid record that makes it corruption
    assert log.read_bytes() == before
    assert sorted(os.listdir(store_dir)) == ["LOCK", log.name]


def test_corruption_salvage_opens_and_the_damaged_id_reads_as_corruption(store_dir):
    log = log_of(store_dir)
    flip_byte(log, write_two_records(store_dir))
    with walstore.Store(store_dir, recovery=walstore.Recovery.SALVAGE) as s:
        assert s.open_report == walstore.OpenReport(
            records_replayed=2, damaged_records=1, torn_tail=None, snapshot_used=None, reinitialised=False
        )
        with pytest.raises(walstore.CorruptionError) as e:
            s.retrieve(1)
        assert e.value.status is walstore.Status.CORRUPTION
        assert e.value.message.startswith(f"wal_retrieve_alloc: corruption in {log} at offset {FILE_HEADER}: ")
        assert s.retrieve(2) == b"second"
        s.store(1, b"new")  # a later store replaces the mark
        assert s.retrieve(1) == b"new"


def test_corruption_at_read_time(store_dir):
    log = log_of(store_dir)
    with walstore.Store(store_dir) as s:
        s.store(1, b"first-payload")
        flip_byte(log, FILE_HEADER + RECORD_HEADER)
        with pytest.raises(walstore.CorruptionError) as e:
            s.retrieve(1)
        assert type(e.value) is walstore.CorruptionError
        assert e.value.message.startswith(f"wal_retrieve_alloc: corruption in {log} at offset {FILE_HEADER}: ")
        assert re.search(r"expected 0x[0-9a-f]{8}, actual 0x[0-9a-f]{8}", e.value.message)
        buf = bytearray(b"\xaa" * 16)
        with pytest.raises(walstore.CorruptionError) as e:
            s.retrieve_into(1, buf)
        assert e.value.message.startswith("wal_retrieve: ")
        # the payload's length in zeros, never unverified bytes; the rest untouched
        assert buf == b"\x00" * 13 + b"\xaa" * 3


def test_incompatible_a_log_file_of_text(store_dir):
    os.makedirs(store_dir)
    log = log_of(store_dir)
    text = b"This is a text file, not a walstore log. It is longer than the 64-byte header.\n" * 3
    log.write_bytes(text)
    for recovery in ("strict", "salvage", "absolute"):
        with pytest.raises(walstore.IncompatibleError) as e:
            walstore.Store(store_dir, recovery=recovery)
        assert type(e.value) is walstore.IncompatibleError
        assert e.value.status is walstore.Status.INCOMPATIBLE
        assert e.value.message.startswith(f"wal_open: {log} is not a log")
    assert log.read_bytes() == text  # left untouched


def test_io_error_read_only_open_of_a_missing_directory(tmp_path):
    with pytest.raises(walstore.WalIOError) as e:
        walstore.Store(tmp_path / "missing", read_only=True)
    assert type(e.value) is walstore.WalIOError
    assert e.value.status is walstore.Status.IO
    assert e.value.message.startswith("wal_open: ")
    assert str(tmp_path / "missing") in e.value.message
    assert not (tmp_path / "missing").exists()


def test_io_error_read_only_open_needs_a_lock_file(tmp_path):
    # a read-only open creates nothing, so it needs a writer's LOCK file
    with pytest.raises(walstore.WalIOError) as e:
        walstore.Store(tmp_path, read_only=True)
    assert e.value.status is walstore.Status.IO
    assert os.listdir(tmp_path) == []


def test_io_error_the_path_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_bytes(b"not a directory")
    with pytest.raises(walstore.WalIOError) as e:
        walstore.Store(f)
    assert e.value.status is walstore.Status.IO
    assert f.read_bytes() == b"not a directory"


def test_io_error_on_append_is_rolled_back_and_the_store_stays_usable(tmp_path):
    # RLIMIT_FSIZE makes write(2) past 1024 bytes fail with EFBIG: a real
    # I/O error on append, in a child process so that the limit stays there.
    script = textwrap.dedent(
        """
        import json, os, resource, signal, sys
        import walstore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        d = sys.argv[1]
        log = os.path.join(d, "wal-0000000000000001.log")
        out = {}
        with walstore.Store(d) as s:
            s.store(1, b"a" * 100)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
            for name, call in (("store", lambda: s.store(2, b"b" * 2000)),
                               ("batch", lambda: s.store_batch([(3, b"c" * 600), (4, b"d" * 600)]))):
                try:
                    call()
                    out[name] = None
                except walstore.Error as e:
                    out[name] = [type(e).__name__, int(e.status), e.message, os.path.getsize(log), s.log_position]
            s.store(5, b"after")
            out["after"] = [s.retrieve(5).decode(), os.path.getsize(log)]
            for i in (2, 3, 4):
                try:
                    s.retrieve(i)
                except walstore.NotFoundError:
                    out["missing_%d" % i] = True
        print(json.dumps(out))
        """
    )
    d = tmp_path / "store"
    r = subprocess.run([sys.executable, "-c", script, str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    end = FILE_HEADER + RECORD_HEADER + 100  # 196
    log = str(d / "wal-0000000000000001.log")
    assert out["store"][:2] == ["WalIOError", 4]
    assert out["store"][2].startswith(f"wal_store: append to {log} at offset {end}: ")
    assert out["store"][3:] == [end, end]  # rolled back
    assert out["batch"][:2] == ["WalIOError", 4]
    assert out["batch"][2].startswith(f"wal_store_batch: append to {log} at offset {end}: ")
    assert out["batch"][3:] == [end, end]
    assert out["after"] == ["after", end + RECORD_HEADER + 5]
    assert out["missing_2"] is out["missing_3"] is out["missing_4"] is True
    with walstore.Store(d) as s:
        assert s.retrieve(1) == b"a" * 100
        assert s.retrieve(5) == b"after"
        assert s.open_report.records_replayed == 2
        assert s.open_report.torn_tail is None


def test_no_space(tmp_path):
    # A log that is empty is started afresh (header written at offset 0);
    # /dev/full is empty and fails every write with ENOSPC.
    if not os.path.exists("/dev/full"):
        pytest.fail("/dev/full is missing")  # always there on Linux
    d = tmp_path / "store"
    d.mkdir()
    os.symlink("/dev/full", d / "wal-0000000000000001.log")
    with pytest.raises(walstore.NoSpaceError) as e:
        walstore.Store(d)
    assert type(e.value) is walstore.NoSpaceError
    assert e.value.status is walstore.Status.NO_SPACE
    assert e.value.message.startswith(f"wal_open: write header of {d / 'wal-0000000000000001.log'} at offset 0: ")


def test_unknown_status_gives_the_base_class():
    from walstore._errors import error_for_status

    e = error_for_status(42, "from the future")
    assert type(e) is walstore.Error
    assert e.status == 42
    assert e.message == "from the future"
