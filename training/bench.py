"""End-to-end training throughput, always beside a reference measured in the same run.

``python scripts/bench.py train`` prints, for each preset, the training steps per second
(collection + PPO update + logging, after one warm-up update) of PPO's sequential replay and of its
batched one, in alternating order, each as a fraction of the no-overhead ceiling measured just
before it (a plain batched CNN doing the same PPO work per sample), and the steps per second of the
same worlds stepped alone with random actions. ``python scripts/bench.py population`` trains K
seeds as one population and as K separate runs, the same steps each, and prints the ratio of their
aggregate steps per second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import statistics
import tempfile
import time
from typing import Optional, Sequence

import torch
from torch import nn

from agents.config import AgentConfig
from agents.vision import to_float_image
from common.device import resolve_device
from training.build import TRAINING_ENV_OPTIONS, make_env, prepare_cpu_process
from training.config import Config
from training.loop import train, train_population


def env_only_sps(config: Config, steps: int) -> float:
    """Steps per second of ``config.num_envs`` worlds under uniformly random actions."""
    device = resolve_device(config.device, "--device")
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
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(random_actions())
    _sync(device)
    sps = steps * n / (time.perf_counter() - start)
    env.close()
    return sps


def ceiling_sps(config: Config, device: torch.device, updates: int = 2) -> float:
    """Samples/s of the no-overhead ceiling: a plain batched CNN with the trunk's conv layers (the
    default AgentConfig's channels and strides, at the run's view size) and a linear top, doing the PPO
    work of one update per sample: one forward (collection, no autograd), then ``update_epochs`` x
    (forward + backward) in ``num_minibatches`` minibatches, with Adam. The images go through the
    agents' own uint8 -> float conversion; there is no goal, no memory, no mechanism and no env."""
    cfg, view = AgentConfig(), config.view_size or 24
    layers, width = [], 3
    for channels, stride in zip(cfg.channels, cfg.strides):
        layers += [nn.Conv2d(width, channels, 3, stride, padding=1), nn.ReLU()]
        width = channels
    layers += [nn.AdaptiveAvgPool2d(cfg.grid), nn.Flatten(), nn.Linear(width * cfg.grid ** 2, cfg.embed), nn.ReLU(),
               nn.Linear(cfg.embed, 6)]  # 5 logits and a value
    torch.manual_seed(0)
    net = nn.Sequential(*layers).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-5)
    n, steps = config.num_envs, config.num_steps
    images = torch.randint(0, 256, (steps * n, view, view, 3), dtype=torch.uint8, device=device)
    actions = torch.randint(0, 5, (steps * n,), device=device)
    size = steps * n // config.num_minibatches

    def update() -> None:
        with torch.no_grad():
            for t in range(steps):
                net(to_float_image(images[t * n:(t + 1) * n]))
        for _ in range(config.update_epochs):
            order = torch.randperm(steps * n, device=device)
            for start in range(0, size * config.num_minibatches, size):
                index = order[start:start + size]
                out = net(to_float_image(images[index]))
                logp = torch.log_softmax(out[:, :5], dim=1).gather(1, actions[index, None])
                loss = -logp.mean() + out[:, 5].pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    update()  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(updates):
        update()
    _sync(device)
    return updates * steps * n / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_sps(config: Config, preset: str) -> tuple[float, int]:
    """Steady training steps/s of one short run (after its first update) and the agent's parameters."""
    with tempfile.TemporaryDirectory() as run_dir, contextlib.redirect_stdout(io.StringIO()):
        result = train(dataclasses.replace(config, run_dir=os.path.join(run_dir, preset)))
    return result.sps, result.agent_params


PATHS = {  # bench name -> the Config fields of that training path
    "sequential": {"replay": "sequential", "compile": False},
    "batched": {"replay": "batched", "compile": False},
    "compiled": {"replay": "batched", "compile": True},
}


def bench_train(presets: Sequence[str], base: Optional[Config] = None, updates: int = 3,
                paths: Sequence[str] = ("sequential", "batched"), repeats: int = 1) -> list[dict]:
    """Each preset trained along each of ``paths`` (`PATHS`) for ``updates`` updates after one warm-up
    update, ``repeats`` times, the paths in alternating order, each beside the no-overhead ceiling
    (`ceiling_sps`) measured just before it, so that a busy or quiet spell of a shared machine moves
    both. Prints each path's steps/s and ceiling (medians over the repeats), its fraction of its ceiling
    (the median of the repeats' fractions, with their range where repeats > 1) and the ratio of the last
    path to the first, and the env alone; returns the rows."""
    base = base or Config()
    base = dataclasses.replace(base, video_interval=0, image_interval=0, checkpoint_interval=0, progress=False)
    batch = base.num_envs * base.num_steps
    device = resolve_device(base.device, "--device")
    if device.type == "cpu":
        prepare_cpu_process()
    print(f"device {device}, {torch.get_num_threads()} threads; {base.num_envs} worlds x {base.num_steps} steps "
          f"per update, {base.update_epochs} epochs, {base.num_minibatches} minibatches; {base.env} "
          f"{base.env_make_kwargs() or ''}")
    print("ceiling: a plain batched CNN with the trunk's layers doing the same PPO work per sample, measured "
          "before each path; 'of ceiling' = the path's steps/s over it"
          + (f"; medians of {repeats} repeats, the fraction's range in brackets" if repeats > 1 else ""))
    width = 22 if repeats > 1 else 10
    columns = "".join(f" {p + ' SPS':>15} {'ceiling':>8} {'of ceiling':>{width}}" for p in paths)
    ratio = f"{paths[-1]}/{paths[0]}" if len(paths) > 1 else ""
    header = f"{'preset':<12} {'params':>9}{columns} {ratio:>20} {'env SPS':>10}"
    print(header)
    print("-" * len(header))
    rows = []
    for number, preset in enumerate(presets):
        config = dataclasses.replace(base, agent=preset, total_steps=batch * (updates + 1))
        env_sps = env_only_sps(config, steps=max(50, base.num_steps * 2))
        row = {"preset": preset, "env_sps": env_sps}
        runs: dict[str, list[tuple[float, float]]] = {path: [] for path in paths}  # (steps/s, ceiling) per repeat
        for repeat in range(repeats):
            order = list(paths) if (number + repeat) % 2 == 0 else list(reversed(paths))  # neither always first
            for path in order:
                ceiling = ceiling_sps(config, device)
                sps, row["params"] = _train_sps(dataclasses.replace(config, **PATHS[path]), preset)
                runs[path].append((sps, ceiling))
        for path, measured in runs.items():
            fractions = sorted(sps / ceiling for sps, ceiling in measured)
            row[f"{path}_sps"] = statistics.median(sps for sps, _ in measured)
            row[f"{path}_ceiling"] = statistics.median(ceiling for _, ceiling in measured)
            row[f"{path}_fraction"] = statistics.median(fractions)
            row[f"{path}_fraction_range"] = (fractions[0], fractions[-1])
        rows.append(row)

        def fraction(path: str) -> str:
            low, high = row[f"{path}_fraction_range"]
            text = f"{row[f'{path}_fraction']:.2f}" + (f" [{low:.2f}, {high:.2f}]" if repeats > 1 else "")
            return f"{text:>{width}}"

        cells = "".join(f" {row[f'{p}_sps']:>15,.0f} {row[f'{p}_ceiling']:>8,.0f} {fraction(p)}" for p in paths)
        speedup = f"{row[f'{paths[-1]}_sps'] / row[f'{paths[0]}_sps']:.2f}x" if len(paths) > 1 else ""  # one path: none
        print(f"{preset:<12} {row['params']:>9,}{cells} {speedup:>20} {env_sps:>10,.0f}", flush=True)
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
    device = resolve_device(base.device, "--device")
    if device.type == "cpu":
        prepare_cpu_process()
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
