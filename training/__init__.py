"""Training runs: recurrent PPO over the RedBerry worlds, monitored in TensorBoard.

`Config` holds every setting (one dataclass; ``scripts/train.py`` parses it with tyro),
`train` runs it (`training.loop`), `training.checkpoint` reads and writes checkpoints,
`training.monitor` writes TensorBoard summaries, and `training.distributed` handles torchrun.
"""

from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from training.config import Config, ConfigError, parse_config
from training.loop import NonFiniteError, TrainResult, train

__all__ = [
    "CheckpointError",
    "Config",
    "ConfigError",
    "NonFiniteError",
    "TrainResult",
    "load_checkpoint",
    "parse_config",
    "save_checkpoint",
    "train",
]
