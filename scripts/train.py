"""Train a forager: `python scripts/train.py --help` lists every flag.

    python scripts/train.py                                   # feedback agent on RedBerry-v1
    python scripts/train.py --agent feedforward --difficulty hard
    python scripts/train.py --env CuedBerry-v1 --population 5     # seeds 1-5 in one process
    python scripts/train.py --resume runs/RedBerry-v1__feedback__1__1764300000
    torchrun --nproc_per_node=2 scripts/train.py --num-envs 32
    tensorboard --logdir runs
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.device import DeviceError  # noqa: E402
from common.files import os_error_text  # noqa: E402
from training import CheckpointError, ConfigError, NonFiniteError, parse_config, train_population  # noqa: E402
from training.distributed import launched_by_torchrun  # noqa: E402
from common.flags import quiet_thread_errors, safe_streams  # noqa: E402
from training.memory import out_of_memory, out_of_memory_message  # noqa: E402
from training.population import population_configs  # noqa: E402


def main() -> int:
    safe_streams()
    quiet_thread_errors()
    try:
        config = parse_config()
        train_population(population_configs(config), population=config if config.population > 1 else None)
    except (ConfigError, CheckpointError, DeviceError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output left (`train.py --help | head`, or `train.py | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("train.py: the output pipe closed; stopped (any checkpoint written before is intact)", file=sys.stderr)
        return 1
    except OSError as exc:  # the disk filled up, a folder vanished: the last checkpoint is intact
        print(f"train.py: error: {os_error_text(exc)} (any checkpoint written before is intact)", file=sys.stderr)
        return 2
    except NonFiniteError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        print(f"train.py: error: {out_of_memory_message(exc)} (any checkpoint written before is intact)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train.py: interrupted; quit without saving (any earlier checkpoint is intact)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    code = main()
    if launched_by_torchrun():
        # The run is saved and the process group destroyed; leave without the interpreter's finalisation,
        # where a gloo or TCPStore thread still winding down can abort a finished run (SIGABRT, "terminate
        # called without an active exception"), which torchrun then reports as a failure of the whole job.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
