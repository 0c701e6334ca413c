"""Fetch planned pages concurrently, hand them back strictly in plan order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

P = TypeVar("P")
R = TypeVar("R")


def fetch_in_order(
    items: Iterable[P], fetch: Callable[[P], R], *, concurrency: int, lookahead: int
) -> Iterator[tuple[P, R]]:
    """Yield `(item, fetch(item))` in the order of `items`, at most `lookahead` in flight.

    The bounded window keeps memory flat on long backfills; a failed fetch raises when its
    turn comes, so everything before it has already been yielded and nothing after it has.
    """
    window: deque[tuple[P, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tap-coinbase-page")
    try:
        for item in items:
            window.append((item, pool.submit(fetch, item)))
            if len(window) >= lookahead:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()
    finally:
        for _, future in window:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
