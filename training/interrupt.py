"""Ctrl-C and SIGTERM during training: finish the update, save a checkpoint, exit; a second quits.

The first signal only sets a flag, which the trainer reads (and shares across processes) at the
end of each update; the handler then puts the previous one back, so a second signal acts at once
(Ctrl-C raises KeyboardInterrupt, and nothing is written over the last checkpoint).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator, Optional


class StopRequest:
    """Set by the first SIGINT or SIGTERM inside `stop_requests`."""

    requested: bool = False


@contextlib.contextmanager
def stop_requests(announce: bool = True, request: Optional[StopRequest] = None) -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM while the block runs, into ``request`` (a new one if None); ``announce``
    prints what happens next (rank 0 only, under torchrun). Outside the main thread, signals are left alone.

    Python runs a handler once for signals that arrive together (two Ctrl-C during one long torch
    call), so the C-level deliveries are counted through `signal.set_wakeup_fd`: two of them act as
    the second signal, never as one stop request."""
    request = StopRequest() if request is None else request
    previous = {}
    reader, writer = os.pipe()
    for fd in (reader, writer):
        os.set_blocking(fd, False)

    def second(signum: int) -> None:
        signal.signal(signum, previous[signum])
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)  # SIGINT's default: KeyboardInterrupt
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)
        raise KeyboardInterrupt  # an ignored signal asked twice: still quit

    def on_signal(signum, _frame):
        try:
            delivered = sum(1 for b in os.read(reader, 1024) if b in (signal.SIGINT, signal.SIGTERM))
        except BlockingIOError:
            delivered = 1
        if request.requested or delivered >= 2:
            second(signum)
        request.requested = True
        signal.signal(signum, previous[signum])  # a second signal acts at once
        if announce:
            print(f"\n{signal.Signals(signum).name}: finishing this update and saving a checkpoint "
                  "(press Ctrl-C again to quit without saving)", file=sys.stderr)

    wakeup = None
    try:
        wakeup = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: no signal handling
        previous = {}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if wakeup is not None:
            signal.set_wakeup_fd(wakeup)
        os.close(reader)
        os.close(writer)
