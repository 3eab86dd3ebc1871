"""Training runs: recurrent PPO over the RedBerry worlds, monitored in TensorBoard.

`Config` holds every setting (one dataclass; ``scripts/train.py`` parses it with tyro),
`train` runs it (`training.loop`), `training.build` makes the worlds and the agent from a config,
`training.run_state` resumes and saves runs in the format of `training.checkpoint`,
`training.logbook` writes the console and TensorBoard output (its statistics in `training.stats`, its
pictures in `training.images`, its summaries in `training.summaries`), and `training.distributed`
handles torchrun.
"""

from common.device import resolve_device
from training.build import TRAINING_ENV_OPTIONS, make_agent, make_env, prepare_cpu_process
from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from training.config import Config, ConfigError, parse_config
from training.loop import NonFiniteError, TrainResult, train, train_population
from training.images import record_episode

__all__ = [
    "CheckpointError",
    "Config",
    "ConfigError",
    "NonFiniteError",
    "TRAINING_ENV_OPTIONS",
    "TrainResult",
    "load_checkpoint",
    "make_agent",
    "make_env",
    "parse_config",
    "prepare_cpu_process",
    "record_episode",
    "resolve_device",
    "save_checkpoint",
    "train",
    "train_population",
]
