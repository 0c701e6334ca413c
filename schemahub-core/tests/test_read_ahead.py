"""read_ahead: a producer's items in order, made on a worker thread ahead of the caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from schemahub_core.read_ahead import read_ahead


class Producer:
    """Counts what it made, on which thread, and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.made: list[int] = []
        self.threads: set[str] = set()
        self.closed = False

    def items(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise ValueError(f"bad item {n}")
                self.made.append(n)
                self.threads.add(threading.current_thread().name)
                yield n
        finally:
            self.closed = True


def test_items_come_in_order_made_on_the_worker_thread():
    producer = Producer(100)
    assert list(read_ahead(producer.items(), 4)) == list(range(100))
    assert producer.threads
    assert all(t.startswith("read-ahead") for t in producer.threads)
    assert producer.closed


def test_the_worker_runs_ahead_of_the_caller_by_depth_items():
    producer = Producer(100)
    items = read_ahead(producer.items(), 8)
    assert next(items) == 0
    # While the caller holds item 0, the worker makes the next ones (it was asked for 8).
    deadline = threading.Event()
    for _ in range(200):
        if len(producer.made) >= 8:
            break
        deadline.wait(0.01)
    assert 8 <= len(producer.made) <= 9
    items.close()


def test_a_producer_error_comes_after_the_items_before_it():
    producer = Producer(10, fail_at=5)
    items = read_ahead(producer.items(), 3)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="bad item 5"):
        next(items)
    assert producer.closed
    assert producer.closed


def test_closing_early_stops_the_worker_and_closes_the_producer():
    producer = Producer(1000)
    items = read_ahead(producer.items(), 4)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert producer.closed
    assert len(producer.made) <= 3 + 4 + 1  # nothing more was made after the close
    assert not [t for t in threading.enumerate() if t.name.startswith("read-ahead")]


def test_a_caller_error_closes_the_producer():
    producer = Producer(1000)

    def caller() -> None:
        for item in read_ahead(producer.items(), 4):
            if item == 2:
                raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        caller()
    assert producer.closed
