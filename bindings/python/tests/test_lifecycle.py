"""Context manager, close, use after close, garbage collection."""

import gc

import pytest
import walstore


def test_context_manager_returns_the_store_and_closes_it(store_dir):
    with walstore.Store(store_dir) as s:
        assert isinstance(s, walstore.Store)
        assert s.closed is False
        s.store(1, b"x")
    assert s.closed is True
    # the lock was released: a new writer can open
    with walstore.Store(store_dir) as s2:
        assert s2.retrieve(1) == b"x"


def test_context_manager_closes_on_an_exception_and_lets_it_through(store_dir):
    with pytest.raises(KeyError, match="boom"):
        with walstore.Store(store_dir) as s:
            s.store(1, b"written before the exception")
            raise KeyError("boom")
    assert s.closed is True
    with walstore.Store(store_dir) as s:
        assert s.retrieve(1) == b"written before the exception"


def test_a_walstore_error_inside_with_propagates_unchanged(store_dir):
    with pytest.raises(walstore.NotFoundError) as e:
        with walstore.Store(store_dir) as s:
            s.retrieve(5)
    assert e.value.message == "wal_retrieve_alloc: id 5 not found"
    assert s.closed is True


def test_close_is_idempotent(store_dir):
    s = walstore.Store(store_dir)
    s.store(1, b"x")
    assert s.close() is None
    assert s.close() is None
    assert s.closed is True


def test_close_then_reopen(store_dir):
    s = walstore.Store(store_dir)
    s.close()
    s = walstore.Store(store_dir)
    assert s.open_report.records_replayed == 0
    s.close()


CALLS = {
    "store": lambda s: s.store(1, b"x"),
    "store_batch": lambda s: s.store_batch([(1, b"x")]),
    "retrieve": lambda s: s.retrieve(1),
    "retrieve_into": lambda s: s.retrieve_into(1, bytearray(4)),
    "delete": lambda s: s.delete(1),
    "sync": lambda s: s.sync(),
    "snapshot": lambda s: s.snapshot(),
    "should_snapshot": lambda s: s.should_snapshot(),
    "log_position": lambda s: s.log_position,
    "snapshot_position": lambda s: s.snapshot_position,
    "__enter__": lambda s: s.__enter__(),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_use_after_close_raises_closed_error(store_dir, name):
    s = walstore.Store(store_dir)
    s.store(1, b"x")
    s.close()
    with pytest.raises(walstore.ClosedError) as e:
        CALLS[name](s)
    assert type(e.value) is walstore.ClosedError
    assert isinstance(e.value, walstore.Error)
    assert isinstance(e.value, ValueError)
    assert e.value.status is None
    assert e.value.message == f"walstore store {str(store_dir)!r} is closed"


def test_open_report_stays_available_after_close(store_dir):
    with walstore.Store(store_dir) as s:
        s.store(1, b"x")
    with walstore.Store(store_dir) as s:
        pass
    assert s.open_report.records_replayed == 1


def test_a_with_block_on_a_closed_store_raises(store_dir):
    s = walstore.Store(store_dir)
    s.close()
    with pytest.raises(walstore.ClosedError):
        with s:
            pytest.fail("the body must not run")


def test_repr(store_dir):
    s = walstore.Store(store_dir)
    assert repr(s) == f"<walstore.Store {str(store_dir)!r} (open)>"
    s.close()
    assert repr(s) == f"<walstore.Store {str(store_dir)!r} (closed)>"
    with walstore.Store(store_dir, read_only=True) as r:
        assert repr(r) == f"<walstore.Store {str(store_dir)!r} (open, read-only)>"


def test_an_unclosed_store_is_closed_when_collected(store_dir):
    s = walstore.Store(store_dir, durability="none")
    s.store(1, b"buffered")
    with pytest.warns(ResourceWarning, match="unclosed walstore store"):
        del s
        gc.collect()
    # closed: the lock is free and the buffer was flushed
    with walstore.Store(store_dir) as s:
        assert s.retrieve(1) == b"buffered"


def test_a_failed_open_leaves_nothing_to_close(store_dir):
    with walstore.Store(store_dir):
        with pytest.raises(walstore.LockedError):
            walstore.Store(store_dir)
        gc.collect()  # the half-made Store's __del__ has nothing to close
