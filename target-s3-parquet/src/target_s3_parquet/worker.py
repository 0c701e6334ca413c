"""A single background thread that runs commits in order while the reader keeps reading.

Parsing, gzip, mapping and Parquet encoding mostly release the GIL, so committing batch N on
this thread while the main thread decodes batch N+1 uses a second core. The queue holds one
job, so at most one batch is being filled, one waiting and one committing (bounded memory).
Jobs run strictly in order and STATE is relayed by the job itself after its data is
committed; after a failure every later job is skipped, so no STATE is relayed past it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class CommitWorker:
    """Runs submitted commit jobs one after another on a daemon thread."""

    def __init__(self) -> None:
        """No thread yet: it starts with the first submitted job."""
        self._jobs: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _STOP:
                    return
                if self._error is None:
                    job()  # type: ignore[operator]
            except BaseException as exc:
                self._error = exc
            finally:
                self._jobs.task_done()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job (blocks while one is already waiting); raise an earlier job's error."""
        self.raise_error()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="commit", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def wait(self) -> None:
        """Block until every submitted job has run (or been skipped after a failure)."""
        if self._thread is not None:
            self._jobs.join()

    def finish(self) -> None:
        """Run what is queued, stop the thread, and raise the first job error if any."""
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread.join()
            self._thread = None
        self.raise_error()

    def raise_error(self) -> None:
        """Re-raise, on the calling thread, the error that stopped the commits."""
        if self._error is not None:
            raise self._error
