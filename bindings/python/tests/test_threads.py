"""Many threads on one Store: exact results, per-thread error messages,
and close() waiting for calls in progress."""

import threading

import pytest
import walstore
from conftest import FILE_HEADER, RECORD_HEADER

TIMEOUT = 60


def run_threads(targets):
    """Starts one thread per target, joins them, and re-raises the first
    failure of any thread in the main thread."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: B036 - reported below
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def payload(writer, i):
    return b"writer %d item %d " % (writer, i) + bytes([writer]) * (i % 7)


@pytest.mark.parametrize("durability", ["fsync", "flush", "none"])
def test_concurrent_writers_and_readers(store_dir, durability):
    writers, per_writer, readers = 4, 40, 3
    fixed = {i: b"fixed %d" % i for i in range(50)}
    with walstore.Store(store_dir, durability=durability) as s:
        s.store_batch(fixed.items())
        start = threading.Barrier(writers + readers)
        done = threading.Event()
        reads = [0] * readers

        def writer(w):
            def run():
                start.wait()
                for i in range(per_writer):
                    id = 1000 * (w + 1) + i
                    if i % 5 == 4:
                        s.store_batch([(id, b"batch"), (id, payload(w, i))])  # later wins
                    else:
                        s.store(id, payload(w, i))
                    assert s.retrieve(id) == payload(w, i)  # a writer reads its own write

            return run

        def reader(r):
            def run():
                start.wait()
                while not done.is_set() or reads[r] == 0:
                    for id, value in fixed.items():
                        assert s.retrieve(id) == value
                    reads[r] += 1

            return run

        def all_writers():
            try:
                run_threads([writer(w) for w in range(writers)])
            finally:
                done.set()  # stop the readers even if a writer failed

        run_threads([all_writers] + [reader(r) for r in range(readers)])
        assert all(n > 0 for n in reads)
        for w in range(writers):
            for i in range(per_writer):
                assert s.retrieve(1000 * (w + 1) + i) == payload(w, i)

    with walstore.Store(store_dir) as s:
        entries = 50 + writers * per_writer + writers * (per_writer // 5)  # batches hold 2 entries
        assert s.open_report.records_replayed == entries
        for w in range(writers):
            for i in range(per_writer):
                assert s.retrieve(1000 * (w + 1) + i) == payload(w, i)
        assert {id: s.retrieve(id) for id in fixed} == fixed


def test_concurrent_deletes_and_stores_of_disjoint_ids(store_dir):
    with walstore.Store(store_dir, durability="flush") as s:
        for i in range(200):
            s.store(i, b"%d" % i)

        def deleter(k):
            def run():
                for i in range(k, 200, 4):
                    s.delete(i)
                    with pytest.raises(walstore.NotFoundError) as e:
                        s.delete(i)  # the second delete finds nothing
                    assert e.value.message == f"wal_delete: id {i} not found"

            return run

        run_threads([deleter(k) for k in range(4)])
        for i in range(200):
            with pytest.raises(walstore.NotFoundError):
                s.retrieve(i)
        assert s.log_position == FILE_HEADER + 400 * RECORD_HEADER + sum(len(b"%d" % i) for i in range(200))


def test_error_messages_are_per_thread(store_dir):
    """Each thread sees the message of its own failed call, even while
    other threads fail differently at the same time."""
    rounds = 300
    with walstore.Store(store_dir, max_payload=4) as s:
        s.store(1, b"abcd")
        start = threading.Barrier(3)

        def not_found():
            start.wait()
            for i in range(rounds):
                with pytest.raises(walstore.NotFoundError) as e:
                    s.retrieve(10_000 + i)
                assert e.value.message == f"wal_retrieve_alloc: id {10_000 + i} not found"

        def too_big():
            start.wait()
            for i in range(rounds):
                with pytest.raises(walstore.InvalidArgumentError) as e:
                    s.store(20_000 + i, b"12345")
                assert e.value.message.startswith("wal_store: ")
                assert f"id {20_000 + i} " in e.value.message

        def too_small():
            start.wait()
            for _ in range(rounds):
                with pytest.raises(walstore.BufferTooSmallError) as e:
                    s.retrieve_into(1, bytearray(3))
                assert e.value.needed == 4
                assert e.value.message.startswith("wal_retrieve: ")

        run_threads([not_found, too_big, too_small])


def test_close_waits_for_calls_in_progress_and_later_calls_raise(store_dir):
    s = walstore.Store(store_dir, durability="flush")
    s.store(1, b"one")
    started = threading.Barrier(5)
    outcomes = []

    def worker(k):
        def run():
            started.wait()
            ok = 0
            while True:
                try:
                    value = s.retrieve(1)
                    assert value == b"one"
                    s.store(100 + k, b"%d" % ok)
                    ok += 1
                except walstore.ClosedError as e:
                    outcomes.append((k, ok, e.message))
                    return

        return run

    def closer():
        started.wait()
        s.close()
        s.close()

    run_threads([worker(k) for k in range(4)] + [closer])
    assert sorted(k for k, _, _ in outcomes) == [0, 1, 2, 3]
    assert all(m == f"walstore store {str(store_dir)!r} is closed" for _, _, m in outcomes)
    with walstore.Store(store_dir) as s2:
        for k, ok, _ in outcomes:
            if ok:  # the last completed store of each worker survived the close
                assert s2.retrieve(100 + k) == b"%d" % (ok - 1)
            else:
                with pytest.raises(walstore.NotFoundError):
                    s2.retrieve(100 + k)
