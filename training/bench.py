"""End-to-end training throughput, always beside a reference measured in the same run.

``python scripts/bench.py train`` prints, for each preset, the training steps per second
(collection + PPO update + logging, after one warm-up update) next to the steps per second of
the same worlds stepped alone with random actions; the ratio shows how much of the time goes
to learning. ``python scripts/bench.py population`` trains K seeds as one population and as K
separate runs, the same steps each, and prints the ratio of their aggregate steps per second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
import time
from typing import Optional, Sequence

import torch

from training.build import TRAINING_ENV_OPTIONS, make_env, resolve_device, set_cpu_threads
from training.config import Config
from training.loop import train, train_population


def env_only_sps(config: Config, steps: int) -> float:
    """Steps per second of ``config.num_envs`` worlds under uniformly random actions."""
    device = resolve_device(config.device)
    env = make_env(config, config.num_envs, device, **TRAINING_ENV_OPTIONS)
    env.reset(seed=config.seed)
    space = env.single_action_space
    n = config.num_envs

    def random_actions() -> torch.Tensor:
        if hasattr(space, "n"):
            return torch.randint(0, int(space.n), (n,), device=device)
        return torch.rand((n, *space.shape), device=device) * 2 - 1

    for _ in range(10):  # warm-up
        env.step(random_actions())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(random_actions())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    sps = steps * n / (time.perf_counter() - start)
    env.close()
    return sps


def bench_train(presets: Sequence[str], base: Optional[Config] = None, updates: int = 3) -> list[dict]:
    """Measure each preset: training SPS over ``updates`` updates after one warm-up update, and
    the env-only SPS of the same worlds. Prints a table and returns its rows."""
    base = base or Config()
    base = dataclasses.replace(base, video_interval=0, image_interval=0, checkpoint_interval=0, progress=False)
    batch = base.num_envs * base.num_steps
    device = resolve_device(base.device)
    if device.type == "cpu":
        set_cpu_threads()
    print(f"device {device}, {torch.get_num_threads()} threads; {base.num_envs} worlds x {base.num_steps} steps "
          f"per update, {base.update_epochs} epochs, {base.num_minibatches} minibatches; {base.env} "
          f"{base.env_make_kwargs() or ''}")
    header = f"{'preset':<12} {'params':>9} {'train SPS':>10} {'env SPS':>10} {'learning share':>15}"
    print(header)
    print("-" * len(header))
    rows = []
    for preset in presets:
        config = dataclasses.replace(base, agent=preset, total_steps=batch * (updates + 1))
        env_sps = env_only_sps(config, steps=max(50, base.num_steps * 2))
        with tempfile.TemporaryDirectory() as run_dir, contextlib.redirect_stdout(io.StringIO()):
            result = train(dataclasses.replace(config, run_dir=os.path.join(run_dir, preset)))
        params = result.agent_params
        row = {"preset": preset, "params": params, "train_sps": result.sps, "env_sps": env_sps,
               "learning_share": 1.0 - result.sps / env_sps}
        rows.append(row)
        print(f"{preset:<12} {params:>9,} {result.sps:>10,.0f} {env_sps:>10,.0f} {row['learning_share']:>14.0%}",
              flush=True)
    return rows



def bench_population(preset: str, seeds: int, base: Optional[Config] = None, updates: int = 4,
                     repeats: int = 1) -> dict:
    """Train seeds 1..K of ``preset`` as one population and as K separate runs in this process, the same
    ``updates`` updates each (setup included: building, reference returns, the first update), ``repeats``
    times alternating; print each timing and end with ``population speed-up: X.XX``, the population's
    aggregate steps/s over the separate runs'."""
    base = base or Config()
    base = dataclasses.replace(base, agent=preset, video_interval=0, image_interval=0, checkpoint_interval=0,
                               progress=False, population=1)
    device = resolve_device(base.device)
    if device.type == "cpu":
        set_cpu_threads()
    per_run = base.num_envs * base.num_steps
    base = dataclasses.replace(base, total_steps=per_run * updates)
    print(f"device {device}, {torch.get_num_threads()} threads; {preset} on {base.env}, {seeds} seeds x "
          f"{base.num_envs} worlds x {base.num_steps} steps x {updates} updates, {base.update_epochs} epochs x "
          f"{base.num_minibatches} minibatches")
    separate_time = population_time = 0.0
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(io.StringIO()):  # warm-up: imports, kernels
        train(dataclasses.replace(base, total_steps=per_run, run_dir=os.path.join(root, "warm-up")))
    for repeat in range(repeats):  # the order alternates, so neither side always runs on a warmer machine
        with tempfile.TemporaryDirectory() as root, contextlib.redirect_stdout(io.StringIO()):
            alone = [dataclasses.replace(base, seed=s, run_dir=os.path.join(root, f"alone{s}"))
                     for s in range(1, seeds + 1)]
            together = [dataclasses.replace(c, run_dir=os.path.join(root, f"pop{c.seed}")) for c in alone]
            times = {}
            for side in (("separate", "population") if repeat % 2 == 0 else ("population", "separate")):
                start = time.perf_counter()
                if side == "separate":
                    for config in alone:
                        train(config)
                else:
                    train_population(together)
                times[side] = time.perf_counter() - start
        separate, population = times["separate"], times["population"]
        separate_time, population_time = separate_time + separate, population_time + population
        steps = seeds * base.total_steps
        print(f"repeat {repeat + 1}: {seeds} separate runs {separate:7.1f} s ({steps / separate:8,.0f} steps/s); "
              f"population {population:7.1f} s ({steps / population:8,.0f} steps/s)", flush=True)
    speedup = separate_time / population_time
    print(f"population speed-up: {speedup:.2f}")
    return {"separate_seconds": separate_time, "population_seconds": population_time, "speedup": speedup}
