"""Watch a trained forager: `python scripts/watch.py --help` lists every flag, H in the window every key.

    python scripts/watch.py                                       # the demo checkpoint, assets/demo.pt
    python scripts/watch.py --checkpoint runs/RedBerry-v1__feedback__1__1764300000
    python scripts/watch.py --env CuedBerry-v1                    # then press 1-6 to change the goal
    python scripts/watch.py --record out.gif --frames 60 --scale 0.6
    python scripts/watch.py --record assets/demo.gif --frames 150 --cue-switch 50 --scale 0.6   # the README GIF
    python scripts/watch.py --play --env CuedBerry-v1             # forage yourself: arrow keys; records in runs/play
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from viewer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
