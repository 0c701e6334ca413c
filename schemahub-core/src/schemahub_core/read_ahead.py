"""Items of a pure producer made on a worker thread, a few ahead of the caller.

The taps' dump path reads a zip (inflate, CSV parse, checks: Arrow and ISA-L release the
GIL) while the caller writes the previous batches out (RECORD lines or a batch file).
Run one after the other they leave a core idle; read ahead they overlap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items` in order, produced up to `depth` ahead on one worker thread.

    Only for producers that change no state the caller reports (a bookmark must never
    run ahead of what the caller wrote): reading and parsing files. An exception of the
    producer is raised here in its place, after the items before it. Closing this iterator
    (or an exception in the caller) stops the worker, then closes `items`.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as worker:
        pending: deque[Future[object]] = deque(
            worker.submit(next, items, _END) for _ in range(max(depth, 1))
        )
        try:
            while True:
                item = pending.popleft().result()
                if item is _END:
                    return
                pending.append(worker.submit(next, items, _END))
                yield item  # type: ignore[misc]
        finally:
            for future in pending:
                future.cancel()
            worker.shutdown(wait=True)
            close = getattr(items, "close", None)
            if close is not None:
                close()
