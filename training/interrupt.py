"""Ctrl-C and SIGTERM during training: finish the update, save a checkpoint, exit; a second quits.

The first signal only sets a flag, which the trainer reads (and shares across processes) at the
end of each update; the handler then puts the previous one back, so a second signal acts at once
(Ctrl-C raises KeyboardInterrupt, and nothing is written over the last checkpoint).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator


class StopRequest:
    """Set by the first SIGINT or SIGTERM inside `stop_requests`."""

    requested: bool = False


@contextlib.contextmanager
def stop_requests(announce: bool = True) -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM while the block runs; ``announce`` prints what happens next
    (rank 0 only, under torchrun). Outside the main thread, signals are left alone."""
    request = StopRequest()
    previous = {}

    def on_signal(signum, _frame):
        request.requested = True
        signal.signal(signum, previous[signum])  # a second signal acts at once
        if announce:
            print(f"\n{signal.Signals(signum).name}: finishing this update and saving a checkpoint "
                  "(press Ctrl-C again to quit without saving)", file=sys.stderr)

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: no signal handling
        previous = {}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
