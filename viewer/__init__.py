"""Watch a trained forager think: a pygame viewer of the arena, the agent's retina with its spatial
gain, its channel gains, what/where gates, dopamine and rewards.

`python scripts/watch.py` runs `viewer.app.main`. The pieces: `viewer.session` (load a checkpoint,
step one world and its agent, the live controls), `viewer.panels` (drawing one frame, with each
channel's preferred colour from `agents.probe`), `viewer.keys` (the keys), `viewer.play` (a person
drives a forager with the arrow keys, `--play`, and each episode is written as a record),
`viewer.app` (window, recording and play).
"""

from viewer.app import WatchArgs, main
from viewer.session import DEMO_CHECKPOINT, Session, WatchError, load_session

__all__ = ["DEMO_CHECKPOINT", "Session", "WatchArgs", "WatchError", "load_session", "main"]
