"""Mixed write batches (Store.write_batch, WriteBatch) and range deletes
(Store.delete_range): the order operations apply in, what a range covers,
framing on disk, what is refused (and that a refusal writes nothing), and
that reopening agrees."""

import threading

import pytest
import walstore
from conftest import FILE_HEADER, RECORD_HEADER, log_of

U64_MAX = 2**64 - 1
RANGE_RECORD = RECORD_HEADER + 8  # a range delete's payload is its high end


def records(store_dir, start):
    """(type, seq, id, payload) of every record of the log from `start`. An
    open store's log runs on in zeros (space allocated ahead of appends):
    no record type is 0, so a zero type byte ends the records."""
    data = log_of(store_dir).read_bytes()
    out = []
    pos = start
    while pos < len(data):
        if data[pos] == 0:
            assert data[pos:].count(0) == len(data) - pos
            break
        header = data[pos : pos + RECORD_HEADER]
        length = int.from_bytes(header[4:8], "little")
        payload = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        out.append((header[0], int.from_bytes(header[8:16], "little"), int.from_bytes(header[16:24], "little"), payload))
        pos += RECORD_HEADER + length
    assert pos <= len(data)
    return out


def test_write_batch_builder():
    b = walstore.WriteBatch()
    assert len(b) == 0
    assert b.store(1, bytearray(b"one")).delete(2).delete_range(3, 4) is b
    assert len(b) == 3
    assert list(b) == [
        (walstore.WriteOp.STORE, 1, b"one"),
        (walstore.WriteOp.DELETE, 2),
        (walstore.WriteOp.DELETE_RANGE, 3, 4),
    ]
    assert type(list(b)[0][2]) is bytes  # copied from the bytearray
    assert repr(b) == "<walstore.WriteBatch of 3 operations>"
    b.clear()
    assert len(b) == 0 and list(b) == []
    assert [int(o) for o in walstore.WriteOp] == [1, 2, 3]


def test_operations_apply_in_order_and_a_missing_id_is_no_error(store_dir):
    with walstore.Store(store_dir, durability="flush") as s:
        for i in range(1, 7):
            s.store(i, b"v1-%d" % i)
        source = bytearray(b"seven")
        b = (
            walstore.WriteBatch()
            .store(7, source)  # a new id...
            .delete(7)  # ...deleted in the same batch
            .delete(2)  # a live id...
            .store(2, b"two again")  # ...stored again after its delete
            .delete(99)  # never existed
            .delete_range(4, 5)  # both ends, neither 3 nor 6
            .store(5, memoryview(b"five, back"))  # back after the range
            .store(8, source)  # copied when added...
        )
        source[:] = b"XXXXX"  # ...so this changes nothing
        before = s.log_position
        s.write_batch(b)
        assert s.log_position == before + 10 * RECORD_HEADER + 5 + 9 + 8 + 10 + 5
        # On disk: begin (count 8), the 8 records in order, commit (count 8).
        recs = records(store_dir, before)
        assert [(t, i) for t, _, i, _ in recs] == [
            (3, 8), (1, 7), (2, 7), (2, 2), (1, 2), (2, 99), (5, 4), (1, 5), (1, 8), (4, 8)
        ]
        assert [seq for _, seq, _, _ in recs] == list(range(7, 17))
        assert recs[6][3] == (5).to_bytes(8, "little")

        def check(s):
            assert s.retrieve(1) == b"v1-1"
            assert s.retrieve(2) == b"two again"
            assert s.retrieve(3) == b"v1-3"
            assert s.retrieve(5) == b"five, back"
            assert s.retrieve(6) == b"v1-6"
            assert s.retrieve(8) == b"seven"
            for gone in (4, 7, 99):
                with pytest.raises(walstore.NotFoundError):
                    s.retrieve(gone)
            assert s.stats().live_ids == 6

        check(s)
        # The same batch as tuples, by WriteOp and by name, writes the same.
        tuples = list(b)
        assert tuples[0] == (walstore.WriteOp.STORE, 7, b"seven")
        s.write_batch(tuples)
        s.write_batch([(t[0].name.lower(),) + t[1:] for t in tuples])
        check(s)
    with walstore.Store(store_dir) as s:
        # 6 stores and 3 batches of 8 (framing not counted).
        assert s.open_report.records_replayed == 6 + 3 * 8
        check(s)


def test_batches_of_one_and_empty_batches(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"one")
        before = s.log_position
        s.write_batch([])
        s.write_batch(walstore.WriteBatch())
        s.write_batch(iter(()))
        assert s.log_position == before
        s.write_batch([(walstore.WriteOp.DELETE, 42)])  # one plain tombstone, no framing
        s.write_batch(walstore.WriteBatch().delete_range(0, 0))
        s.write_batch([("store", 2, b"")])
        assert s.log_position == before + RECORD_HEADER + RANGE_RECORD + RECORD_HEADER
        assert [t for t, _, _, _ in records(store_dir, before)] == [2, 5, 1]
        assert s.retrieve(1) == b"one"
        assert s.retrieve(2) == b""


def test_delete_range_ends(store_dir):
    ids = [0, 1, 2, 9, 10, 20, 21, U64_MAX - 1, U64_MAX]
    live = set(ids)

    def check(s):
        for i in ids:
            if i in live:
                assert s.retrieve(i) == str(i).encode()
            else:
                with pytest.raises(walstore.NotFoundError):
                    s.retrieve(i)
        assert s.stats().live_ids == len(live)

    with walstore.Store(store_dir, durability="flush") as s:
        for i in ids:
            s.store(i, str(i).encode())
        for lo, hi, gone in [
            (U64_MAX, U64_MAX, {U64_MAX}),  # the top id alone
            (0, 0, {0}),  # id 0 alone
            (10, 20, {10, 20}),  # both ends, not 9 or 21
            (100, 200, set()),  # holds no id: no error, still one record
            (3, U64_MAX - 2, {9, 21}),  # wide
        ]:
            before = s.log_position
            s.delete_range(lo, hi)
            assert s.log_position == before + RANGE_RECORD
            live -= gone
            check(s)
    with walstore.Store(store_dir) as s:
        assert s.open_report.records_replayed == len(ids) + 5
        check(s)
        s.delete_range(0, U64_MAX)
        live.clear()
        check(s)


def test_lo_above_hi_is_refused_and_writes_nothing(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"kept")
        before = s.log_position
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.delete_range(9, 8)
        assert type(e.value) is walstore.InvalidArgumentError
        assert e.value.status is walstore.Status.INVALID_ARGUMENT
        assert e.value.message == (
            "wal_delete_range: invalid argument: range delete from id 9 to id 8: the low end is above the high end"
        )
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.write_batch(walstore.WriteBatch().store(2, b"x").delete(1).delete_range(U64_MAX, 0))
        assert e.value.message == (
            f"wal_write_batch: invalid argument: range delete from id {U64_MAX} to id 0: "
            "the low end is above the high end"
        )
        assert s.log_position == before
        assert s.retrieve(1) == b"kept"
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(2)


def test_a_payload_over_the_limit_rejects_the_whole_batch(store_dir):
    with walstore.Store(store_dir, max_payload=8) as s:
        s.store(1, b"kept")
        with pytest.raises(walstore.InvalidArgumentError) as e:
            s.write_batch([("delete", 1), ("store", 2, b"123456789")])
        assert e.value.message == (
            "wal_write_batch: invalid argument: payload of id 2 is 9 bytes, over the limit of 8 bytes"
        )
        assert s.log_position == FILE_HEADER + RECORD_HEADER + 4
        assert s.retrieve(1) == b"kept"
        s.write_batch([("delete", 1), ("store", 2, b"12345678")])  # exactly the limit
        assert s.retrieve(2) == b"12345678"
        with pytest.raises(walstore.NotFoundError):
            s.retrieve(1)


def test_arguments_checked_in_python(store_dir):
    with walstore.Store(store_dir) as s:
        for bad in (-1, 2**64):
            with pytest.raises(walstore.InvalidArgumentError, match="out of range"):
                s.delete_range(bad, 5)
            with pytest.raises(walstore.InvalidArgumentError, match="out of range"):
                s.delete_range(0, bad)
            with pytest.raises(walstore.InvalidArgumentError, match="out of range"):
                walstore.WriteBatch().delete(bad)
            with pytest.raises(walstore.InvalidArgumentError, match="out of range"):
                s.write_batch([("store", bad, b"x")])
        with pytest.raises(TypeError):
            s.delete_range("1", 2)
        with pytest.raises(TypeError, match="a payload must be a bytes-like object, not str"):
            walstore.WriteBatch().store(1, "text")
        with pytest.raises(TypeError, match="write_batch takes a WriteBatch or operation tuples, not str"):
            s.write_batch("store")
        with pytest.raises(TypeError, match="write_batch takes operation tuples"):
            s.write_batch([["delete", 1]])
        with pytest.raises(TypeError, match="a delete operation is a tuple of 2"):
            s.write_batch([("delete", 1, 2)])
        with pytest.raises(TypeError, match="a store operation is a tuple of 3"):
            s.write_batch([(walstore.WriteOp.STORE, 1)])
        for kind in ("put", 0, 4, True, None):
            with pytest.raises(walstore.InvalidArgumentError, match="unknown write operation"):
                s.write_batch([(kind, 1)])
        assert s.log_position == FILE_HEADER  # nothing was written


def test_closed_store(store_dir):
    s = walstore.Store(store_dir)
    s.close()
    with pytest.raises(walstore.ClosedError):
        s.write_batch([("delete", 1)])
    with pytest.raises(walstore.ClosedError):
        s.write_batch([])
    with pytest.raises(walstore.ClosedError):
        s.delete_range(0, 1)


def test_threads_write_batches_at_once(store_dir):
    workers, rounds = 4, 25
    errors = []

    def key(w, i):
        return w << 32 | i

    def work(s, w):
        try:
            for i in range(rounds):
                b = walstore.WriteBatch().store(key(w, 2 * i), b"%d-%d" % (w, 2 * i)).store(key(w, 2 * i + 1), b"odd")
                if i:
                    b.delete_range(key(w, 2 * i - 1), key(w, 2 * i - 1))
                s.write_batch(b)
                assert s.retrieve(key(w, 2 * i)) == b"%d-%d" % (w, 2 * i)
            s.delete_range(key(w, rounds), key(w, 2**31))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    def check(s):
        for w in range(workers):
            for i in range(2 * rounds):
                if i < rounds and i % 2 == 0:
                    assert s.retrieve(key(w, i)) == b"%d-%d" % (w, i)
                else:
                    with pytest.raises(walstore.NotFoundError):
                        s.retrieve(key(w, i))

    with walstore.Store(store_dir) as s:  # FSYNC: the threads share fdatasyncs
        threads = [threading.Thread(target=work, args=(s, w)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        check(s)
    with walstore.Store(store_dir) as s:
        assert s.open_report.records_replayed == workers * (2 * rounds + rounds - 1 + 1)
        check(s)
