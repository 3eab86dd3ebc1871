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

import json
import os
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any, Optional

import torch

from agents.config import AgentConfig
from agents.presets import config_from_dict
from common.files import atomic_path
from common.flags import first_line
from training.config import Config, from_dict

FORMAT = "redberry.train"
FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pt"


WRITTEN_BY_TRAIN = f"allowed: a {CHECKPOINT_FILE} written by scripts/train.py"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, foreign or from an incompatible version. It carries its
    parts: ``path``, ``problem`` (what is wrong with it) and ``advice`` (what to do), so that a caller
    can give its own advice; ``what`` names the file's role in the message."""

    def __init__(self, path: str, problem: str, advice: str = WRITTEN_BY_TRAIN, what: str = "checkpoint"):
        self.path, self.problem, self.advice = path, problem, advice
        super().__init__(f"{what} {path!r} {problem}; {advice}")


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


def checkpoint_file(path: str) -> str:
    """The checkpoint ``path`` names: the file itself, or a run directory's checkpoint.pt. A population's
    directory (its runs in seed<s>/, no checkpoint of its own) raises CheckpointError naming its runs."""
    if not os.path.isdir(path):
        return path
    file = os.path.join(path, CHECKPOINT_FILE)
    if os.path.isfile(file):
        return file
    runs = sorted(d for d in os.listdir(path) if os.path.isfile(os.path.join(path, d, CHECKPOINT_FILE)))
    if runs:
        shown = ", ".join(runs[:4]) + (", ..." if len(runs) > 4 else "")
        raise CheckpointError(path, f"holds a population, whose runs are {shown}",
                              f"allowed: one of its runs, such as {os.path.join(path, runs[0])!r}", what="directory")
    raise CheckpointError(path, f"holds no {CHECKPOINT_FILE}",
                          "allowed: a run directory or .pt file written by scripts/train.py", what="directory")


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint written by `save_checkpoint`; never modifies the file.

    Raises CheckpointError naming the file when it is missing, unreadable, not a RedBerry
    training checkpoint, or of another format version.
    """
    if not os.path.isfile(path):
        raise CheckpointError(path, "does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError,
            AttributeError, TypeError, KeyError, IndexError) as exc:
        reason = first_line(exc).split(". ")[0].rstrip(".")  # torch adds paragraphs of advice to one line
        raise CheckpointError(path, f"is corrupt or not a safe RedBerry checkpoint (torch.load with "
                                    f"weights_only=True failed: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(path, f"is a foreign file (format {found!r})",
                              f"allowed: format {FORMAT!r} written by scripts/train.py")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(path, f"has format_version {version!r}", f"this code reads version {FORMAT_VERSION}")
    missing = [k for k in ("config", "agent_config", "model", "optimizer", "update", "global_step", "ranks")
               if k not in payload]
    if missing:
        raise CheckpointError(path, f"lacks the entries {missing}", "it is damaged or foreign")
    return payload


@dataclass
class SavedRun:
    """A run's checkpoint, read and decoded once for the trainer's resume, the viewer and compare."""

    path: str  # the checkpoint file
    payload: dict[str, Any]  # everything `load_checkpoint` read: model, optimizer, counters, ranks, ...
    config: Config  # the run's config
    agent_values: dict[str, Any]  # the agent's config as saved (what `agents.agent_from_config` takes)
    agent_config: AgentConfig  # the same, decoded and checked
    worlds: Optional[dict[str, Any]]  # every setting of the worlds as trained; None if saved before that record

    def world_kwargs(self) -> dict[str, Any]:
        """The worlds it trained in, as an evaluation or a viewer plays them: the record, or (saved before it)
        its flags over today's task defaults; full episodes (training's shortened first ones, `stagger_start`,
        are a schedule of the training worlds, not a property of the worlds)."""
        if self.worlds is None:
            return self.config.env_make_kwargs()
        return {k: v for k, v in self.worlds.items() if k != "stagger_start"}


def read_run(path: str, map_location: str | torch.device = "cpu") -> SavedRun:
    """Read and decode a run: ``path`` is a run directory or a checkpoint file (an exported one too).

    Raises CheckpointError, whose ``path``, ``problem`` and ``advice`` a caller may reword, when the file
    is missing, damaged or foreign (`load_checkpoint`), its configs are not JSON, or they hold settings
    this version cannot read."""
    file = checkpoint_file(path)
    payload = load_checkpoint(file, map_location=map_location)
    try:
        values, agent_values = json.loads(payload["config"]), json.loads(payload["agent_config"])
        worlds = json.loads(payload["worlds"]) if "worlds" in payload else None
    except (ValueError, TypeError, RecursionError) as exc:
        raise damaged(file, f"its configs are not JSON ({first_line(exc)})") from None
    if worlds is not None and not isinstance(worlds, dict):
        raise damaged(file, f"its worlds record is a {type(worlds).__name__}, not an object")
    try:
        config = from_dict(values, f"checkpoint {file!r}")
        agent_config = config_from_dict(agent_values)
    except (ValueError, TypeError) as exc:  # ConfigError too: a config of another version, or edited by hand
        raise CheckpointError(file, f"holds a config this version cannot read ({first_line(exc)})",
                              "read it with the version that wrote it, or retrain it") from None
    return SavedRun(file, payload, config, agent_values, agent_config, worlds)


DAMAGED_ADVICE = "resume from another copy of the run, or start a new run with --run-dir"


def damaged(path: str, what: str) -> CheckpointError:
    """The error for a checkpoint with a damaged part."""
    return CheckpointError(path, f"is damaged: {what}", DAMAGED_ADVICE)


def export_checkpoint(source: str, destination: str) -> None:
    """Write a slim copy of a run's checkpoint for watching and evaluation: the same format with the
    optimizer and the per-process resume state (RNG, worlds, rollout carry) left out, so it is
    about half the size. It cannot be resumed; `load_checkpoint` and the viewer read it."""
    source = checkpoint_file(source)
    if os.path.isdir(destination):
        raise CheckpointError(destination, "is a directory", f"allowed: a file path such as "
                              f"{os.path.join(destination, 'agent.pt')!r}", what="destination")
    if os.path.abspath(destination) == os.path.abspath(source) or (
            os.path.exists(destination) and os.path.samefile(source, destination)):
        raise CheckpointError(destination, "is the checkpoint being exported; writing the slim copy there would "
                              "destroy the run's resume state", "allowed: another path", what="destination")
    payload = load_checkpoint(source)
    payload.update(optimizer={}, ranks=[])
    payload.pop("format", None)
    payload.pop("format_version", None)
    save_checkpoint(destination, payload)

