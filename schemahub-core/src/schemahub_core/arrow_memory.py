"""The Arrow memory pool of SchemaHub's taps and target: the C library's allocator.

pyarrow allocates with mimalloc by default. The BATCH lane moves ~100 MB of Arrow buffers
per 1M trades through each process (dump inflate and CSV parse in the tap; batch file read,
mapping and Parquet encode in the target), and with mimalloc those big, short-lived
buffers keep being handed back to the OS and faulted in again. With the system allocator
the same work takes less CPU (bench/README.md, "Arrow memory pool"); the price is a higher
peak RSS in the tap (glibc keeps freed memory around), still far under the 1 GB budget.

`ARROW_DEFAULT_MEMORY_POOL`, when set, is Arrow's own switch and wins: this changes nothing.
"""

from __future__ import annotations

import os

import pyarrow as pa


def use_system_allocator() -> None:
    """Make the system allocator Arrow's default pool, unless the environment picked one."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    pa.set_memory_pool(pa.system_memory_pool())
