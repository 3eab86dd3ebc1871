"""Keeping freed memory in the process: glibc's heap tuned for a loop that frees and reallocates the
same large tensors every step.

torch has no caching allocator on the CPU. By default glibc returns big freed blocks to the
system (each tensor over its mmap threshold is mapped and unmapped; the heap's free top is
trimmed), so the next replay maps fresh pages and faults on every one of them: measured here, 4,000-
7,500 minor page faults and 11-24 ms of system time per `dopamine` minibatch of 64 worlds x 16
steps (measured with a throwaway harness, 2026-12-03), about 6-20% of its time. With the heap kept,
0-230 faults and under 1 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt's parameter numbers (malloc.h) and the values set: blocks up to glibc's largest mmap
# threshold on 64-bit come from the heap, and up to 1 GiB of freed heap is kept.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))
# glibc's own environment variables for the same settings: when the user sets any, theirs rule.
ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (SETTINGS). True when set; False, and
    nothing changed, where the C library is not glibc (macOS, Windows, musl) or a MALLOC_* variable
    of ENV_VARS is set. A process's resident memory then stays near its peak instead of falling."""
    if any(name in os.environ for name in ENV_VARS):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # glibc only: other C libraries' mallopt take other numbers
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return all([mallopt(parameter, value) == 1 for parameter, value in SETTINGS])
