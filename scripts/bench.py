"""Benchmarks: `python scripts/bench.py env` (worlds alone) and `python scripts/bench.py train`.

    python scripts/bench.py env                        # N = 1, 256, 4096, 16384 vs SyncVectorEnv
    python scripts/bench.py env --device cuda --sizes 65536 262144
    python scripts/bench.py multi                      # MultiBerry agent-steps/s at N x M = 4096

    python scripts/bench.py train                      # every preset, default training settings
    python scripts/bench.py train --presets feedforward feedback --num-envs 128 --device cuda
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_command(args: argparse.Namespace) -> None:
    import dataclasses

    import agents
    from training.bench import bench_train
    from training.config import Config

    base = Config(device=args.device)
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "difficulty"):
        if getattr(args, name) is not None:
            base = dataclasses.replace(base, **{name: getattr(args, name)})
    bench_train(args.presets or list(agents.PRESETS), base, updates=args.updates)


def env_command(args: argparse.Namespace) -> None:
    import torch

    import envs  # noqa: F401  (registers the ids)
    from envs.benchmark import sync_steps_per_second, vector_steps_per_second
    from envs.vector import resolve_device

    device = resolve_device(args.device)
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    print(f"env {args.env}, device {device}, torch threads {torch.get_num_threads()}, {args.seconds:.1f} s per size")
    print(f"{'N':>8} {'vector steps/s':>15} {'us/env-step':>12}")
    vector = {}
    for n in args.sizes:
        vector[n] = vector_steps_per_second(args.env, n, str(device), args.seconds)
        print(f"{n:>8} {vector[n]:>15,.0f} {1e6 / vector[n]:>12.3f}")
    print(f"{'N':>8} {'SyncVectorEnv steps/s':>22}")
    sync = {}
    for n in args.sync_sizes:
        sync[n] = sync_steps_per_second(args.env, n, args.seconds)
        print(f"{n:>8} {sync[n]:>22,.0f}")
    best_sync = max(sync.values())
    for n, sps in vector.items():
        print(f"ratio vector(N={n}) / best SyncVectorEnv (N<={max(sync)}): {sps / best_sync:,.1f}x")


def multi_command(args: argparse.Namespace) -> None:
    import torch

    import envs  # noqa: F401
    from envs.benchmark import vector_steps_per_second
    from envs.vector import resolve_device

    device = resolve_device(args.device)
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    arenas = args.slots // args.num_agents
    multi = vector_steps_per_second("MultiBerry-v0", arenas, str(device), args.seconds, num_agents=args.num_agents)
    single = vector_steps_per_second("RedBerry-v0", args.slots, str(device), args.seconds)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    print(f"MultiBerry-v0  {arenas} arenas x {args.num_agents} foragers: {multi:>12,.0f} agent-steps/s")
    print(f"RedBerry-v0    {args.slots} worlds:{'':>13} {single:>12,.0f} steps/s")
    print(f"ratio multi / single: {multi / single:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="end-to-end training SPS per preset, beside env-only SPS")
    train.add_argument("--presets", nargs="+", help="presets to measure (default: all)")
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument("--num-envs", type=int, help="worlds (default: the training default)")
    train.add_argument("--num-steps", type=int, help="steps per rollout (default: the training default)")
    train.add_argument("--update-epochs", type=int)
    train.add_argument("--num-minibatches", type=int)
    train.add_argument("--difficulty", choices=("easy", "medium", "hard"))
    train.add_argument("--updates", type=int, default=3, help="timed updates after one warm-up update")
    train.set_defaults(run=train_command)
    env = commands.add_parser("env", help="env steps/s for several N, beside SyncVectorEnv over single envs")
    env.add_argument("--env", default="RedBerry-v0")
    env.add_argument("--device", default="auto", help="auto, cpu or cuda")
    env.add_argument("--sizes", type=int, nargs="+", default=[1, 256, 4096, 16384])
    env.add_argument("--sync-sizes", type=int, nargs="+", default=[1, 16, 64])
    env.add_argument("--seconds", type=float, default=2.0, help="timed seconds per size")
    env.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    env.set_defaults(run=env_command)
    multi = commands.add_parser("multi", help="MultiBerry agent-steps/s beside the single-forager world")
    multi.add_argument("--slots", type=int, default=4096, help="arenas x foragers")
    multi.add_argument("--num-agents", type=int, default=4)
    multi.add_argument("--device", default="auto")
    multi.add_argument("--seconds", type=float, default=2.0)
    multi.add_argument("--threads", type=int, default=0)
    multi.set_defaults(run=multi_command)
    args = parser.parse_args()
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
