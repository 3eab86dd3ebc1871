"""Training checkpoints: one ``.pt`` file, written atomically, read with ``weights_only=True``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so
``torch.load(path, weights_only=True)`` reads it without running any code from the file:

- ``format`` = ``"redberry.train"``, ``format_version`` = `FORMAT_VERSION`;
- ``config`` and ``agent_config``: JSON strings of the run's and the agent's config;
- ``worlds``: a JSON string of every setting of the worlds as trained (`envs.WorldConfig`, before any
  curriculum), so the run's worlds are known after a task's defaults change (absent in checkpoints
  saved before it, and for envs without such a config);
- ``model`` and ``optimizer``: state dicts;
- ``update``, ``global_step``, ``elapsed``: counters;
- ``reference``: the random and scripted reference returns used by forage/normalized_score;
- ``ranks``: one entry per data-parallel process: the state of the generator its actions and
  minibatches are drawn from (``rng_actions``), its worlds' state (its share of
  ``env.get_state()``, also when it trained in a population), and the rollout carry (next observation, agent state,
  episode-start and validity flags, previous reward), which together make a resumed run
  continue exactly where the saved one stopped.

Writing goes through `common.files.atomic_path` (a temporary file in the same directory, then
``os.replace``): a crash mid-write leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch

from common.files import atomic_path
from common.flags import first_line

FORMAT = "redberry.train"
FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, foreign or from an incompatible version."""


def save_checkpoint(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` atomically (`common.files.atomic_path`)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(payload, f)
    except RuntimeError as exc:
        # torch's zip writer reports a failed write (a full disk, a file-size limit) as a RuntimeError
        # raised while it closes, with the OSError as its context: raise that, naming the checkpoint
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, OSError):
            raise OSError(cause.errno, cause.strerror, path) from exc
        raise


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint written by `save_checkpoint`; never modifies the file.

    Raises CheckpointError naming the file when it is missing, unreadable, not a RedBerry
    training checkpoint, or of another format version.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist; allowed: a {CHECKPOINT_FILE} written by scripts/train.py")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError,
            AttributeError, TypeError, KeyError, IndexError) as exc:
        reason = first_line(exc).split(". ")[0].rstrip(".")  # torch adds paragraphs of advice to one line
        raise CheckpointError(
            f"checkpoint {path!r} is corrupt or not a safe RedBerry checkpoint (torch.load with "
            f"weights_only=True failed: {reason}); allowed: a {CHECKPOINT_FILE} written by scripts/train.py"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"checkpoint {path!r} is a foreign file (format {found!r}); allowed: format {FORMAT!r} "
            f"written by scripts/train.py"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format_version {version!r}; this code reads version {FORMAT_VERSION}"
        )
    missing = [k for k in ("config", "agent_config", "model", "optimizer", "update", "global_step", "ranks")
               if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} lacks the entries {missing}; it is damaged or foreign")
    return payload


def export_checkpoint(source: str, destination: str) -> None:
    """Write a slim copy of a run's checkpoint for watching and evaluation: the same format with the
    optimizer and the per-process resume state (RNG, worlds, rollout carry) left out, so it is
    about half the size. It cannot be resumed; `load_checkpoint` and the viewer read it."""
    if os.path.isdir(source):
        source = os.path.join(source, CHECKPOINT_FILE)
    if os.path.isdir(destination):
        raise CheckpointError(f"destination {destination!r} is a directory; allowed: a file path such as "
                              f"{os.path.join(destination, 'agent.pt')!r}")
    if os.path.abspath(destination) == os.path.abspath(source) or (
            os.path.exists(destination) and os.path.samefile(source, destination)):
        raise CheckpointError(f"destination {destination!r} is the checkpoint being exported; writing the slim "
                              f"copy there would destroy the run's resume state; allowed: another path")
    payload = load_checkpoint(source)
    payload.update(optimizer={}, ranks=[])
    payload.pop("format", None)
    payload.pop("format_version", None)
    save_checkpoint(destination, payload)

