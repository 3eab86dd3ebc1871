"""`python -m training.export RUN_DIR_OR_CHECKPOINT DESTINATION.pt`: a slim copy for watching.

The copy keeps the format, configs, model and counters and drops the optimizer and the resume
state, so it is about a quarter of the size; it cannot be resumed. assets/demo.pt is made this way.
"""

import os
import sys

from common.flags import safe_streams
from training.checkpoint import CheckpointError, export_checkpoint


def main(argv: list[str]) -> int:
    safe_streams()
    if len(argv) != 2:
        print("usage: python -m training.export RUN_DIR_OR_CHECKPOINT DESTINATION.pt", file=sys.stderr)
        return 2
    try:
        export_checkpoint(argv[0], argv[1])
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a missing destination folder, no permission, a full disk
        print(f"error: {argv[1]!r}: {error.strerror or error}; allowed: a writable file path", file=sys.stderr)
        return 2
    print(f"wrote {argv[1]} ({os.path.getsize(argv[1]) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
