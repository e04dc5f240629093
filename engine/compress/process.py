"""Process settings for the stage's children: the pool's workers and the tools they run.

Invariants:
- `die_with_parent` makes the calling process get SIGKILL when its parent dies
  (PR_SET_PDEATHSIG): a killed run leaves no worker or encoder behind. It is safe to call
  between fork and exec (a subprocess's `preexec_fn`).
- `keep_freed_memory` makes glibc's malloc keep the heap memory a task freed for the next one
  (no trimming below `_KEEP_FREED_BYTES`, buffers up to `_HEAP_BUFFER_MAX_BYTES` from the
  heap) instead of handing it back to the kernel: otherwise each 12 MP photo faults ~23,000
  fresh pages back in, about a sixth of its encode time. The process's memory stays its
  largest task's working set.
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_HEAP_BUFFER_MAX_BYTES = 256 * 1024 * 1024
_KEEP_FREED_BYTES = 512 * 1024 * 1024


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent() -> None:
    """Get SIGKILL when the process that started this one dies."""
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def keep_freed_memory() -> bool:
    """Keep freed memory for reuse (see module invariants); False if this libc refused (then
    malloc simply works as before)."""
    libc = _libc()
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, _HEAP_BUFFER_MAX_BYTES)
        and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)
    )
