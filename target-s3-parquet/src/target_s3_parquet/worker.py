"""A single background thread that runs commits in order while the reader keeps reading.

Parsing, gzip, mapping and Parquet encoding mostly release the GIL, so committing batch N on
this thread while the main thread decodes batch N+1 uses a second core. The queue holds one
job, so at most one batch is being filled, one waiting and one committing (bounded memory).
Jobs run strictly in order and STATE is relayed by the job itself after its data is
committed; after a failure every later job is skipped, so no STATE is relayed past it.
While no job comes, an idle job runs when it is due (the commit of staged trades that
reached max_batch_age_seconds: the input may have gone quiet).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class CommitWorker:
    """Runs submitted commit jobs one after another on a daemon thread."""

    def __init__(
        self,
        idle_job: Callable[[], None] = lambda: None,
        idle_after: Callable[[], float | None] = lambda: None,
    ) -> None:
        """No thread yet: it starts with the first submitted job.

        `idle_job` runs on the thread when no job came for `idle_after()` seconds (asked
        anew after every job; None: wait for the next job however long).
        """
        self._jobs: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._idle_job = idle_job
        self._idle_after = idle_after

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=None if self.failed else self._idle_after())
            except queue.Empty:
                self._run_job(self._idle_job)
                continue
            try:
                if job is _STOP:
                    return
                self._run_job(job)  # type: ignore[arg-type]
            finally:
                self._jobs.task_done()

    def _run_job(self, job: Callable[[], None]) -> None:
        if self._error is not None:
            return
        try:
            job()
        except BaseException as exc:
            self._error = exc

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

    @property
    def failed(self) -> bool:
        """Whether a job failed (every later one is skipped)."""
        return self._error is not None

    def raise_error(self) -> None:
        """Re-raise, on the calling thread, the error that stopped the commits."""
        if self._error is not None:
            raise self._error
