"""End-to-end training throughput, always beside a reference measured in the same run.

``python scripts/bench.py train`` prints, for each preset, the training steps per second
(collection + PPO update + logging, after one warm-up update) of PPO's sequential replay and of its
batched one, in alternating order, each as a fraction of the no-overhead ceiling measured just
before it (a plain batched CNN doing the same PPO work per sample), and the steps per second of the
same worlds stepped alone with random actions.
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
from training.config import Config, to_dict
from training.loop import collect, train


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
    "captured": {"replay": "batched", "compile": False, "cuda_graph": True},  # the world step as a CUDA graph
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


def bench_concurrent(jobs: Sequence[int], base: Optional[Config] = None, updates: int = 20) -> list[dict]:
    """For each K in ``jobs``, K runs of ``base`` (seeds 1..K) trained at once, each in its own process (as
    ``compare --jobs K`` runs them), sharing the device; each run trains ``updates`` updates. Prints a row per K
    as soon as its runs end: the sum of the runs' steady steps/s (each from the end of its first update), the
    mean per run, and the wall time from launch to the last exit (start-up included). Returns the rows."""
    import json
    import subprocess
    import sys

    base = base or Config()
    base = dataclasses.replace(base, video_interval=0, image_interval=0, checkpoint_interval=0, progress=False,
                               total_steps=base.num_envs * base.num_steps * updates)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = ("import json, sys; sys.path.insert(0, sys.argv[1]); from training.bench import concurrent_child; "
             "concurrent_child(sys.argv[2])")
    print(f"{base.agent} on {base.env}, device {base.device}: K runs at once, each {base.num_envs} worlds x "
          f"{base.num_steps} steps x {updates} updates in its own process (OMP_NUM_THREADS=1)")
    print(f"{'K':>4} {'sum of steady SPS':>18} {'per run':>10} {'wall s':>8}")
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in jobs:
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            procs = []
            for seed in range(1, k + 1):
                config = dataclasses.replace(base, seed=seed, run_dir=os.path.join(scratch, f"seed{seed}"))
                procs.append(subprocess.Popen([sys.executable, "-c", child, root, json.dumps(to_dict(config))],
                                              stdout=subprocess.PIPE, text=True, env=env))
            results = []
            for proc in procs:
                out, _ = proc.communicate()
                if proc.returncode != 0:
                    raise RuntimeError(f"bench concurrent: a run of K={k} exited with status {proc.returncode}")
                results.append(json.loads(out.strip().splitlines()[-1]))
            wall = time.perf_counter() - start
        total = sum(r["sps"] for r in results)
        rows.append({"k": k, "sps": total, "per_run": total / k, "wall": wall})
        print(f"{k:>4} {total:>18,.0f} {total / k:>10,.0f} {wall:>8.1f}", flush=True)
    return rows


def concurrent_child(config_json: str) -> None:
    """One run of `bench_concurrent`: train the config given as JSON, print its steady steps/s as JSON."""
    import json

    from training.config import from_dict

    with contextlib.redirect_stdout(io.StringIO()):
        result = train(from_dict(json.loads(config_json), "bench concurrent"))
    print(json.dumps({"sps": result.sps, "steps": result.global_step}))


def world_step_launches(env_id: str, steps: int = 8, num_envs: int = 64, captured: bool = False,
                        **env_kwargs) -> dict:
    """Aten ops per world step of ``env_id`` as the trainer steps it (copy=False, validate_actions=False), counted
    by `common.dispatch.OpCounter` over ``steps`` steps after two warm-up steps: {"ops", "launches"} per step
    ("launches": the ops that launch a kernel on a GPU; views and allocations left out). The count does not
    depend on ``num_envs``. ``captured``: the step as `capture_step` runs it on CUDA, rehearsed on the CPU
    (`envs.capture.EagerGraph`), the graph's replay counted as the one launch it is there."""
    import gymnasium as gym
    from torch.utils._python_dispatch import _disable_current_modes

    from common.dispatch import OpCounter
    from envs.capture import CapturedStep, EagerGraph

    counter = OpCounter()

    class OneLaunch(EagerGraph):  # a CUDA graph's replay: one launch, whatever it runs
        def replay(self) -> None:
            counter.ops += 1
            counter.launches += 1
            with _disable_current_modes():
                super().replay()

    env = gym.make_vec(env_id, num_envs=num_envs, device="cpu", copy=False, validate_actions=False, **env_kwargs)
    env.reset(seed=0)
    if captured:
        env.unwrapped._fast_step = CapturedStep(env.unwrapped, OneLaunch)
    space = env.single_action_space
    generator = torch.Generator().manual_seed(0)
    if hasattr(space, "n"):
        pool = torch.randint(0, int(space.n), (steps + 2, env.num_envs), generator=generator)
    else:
        pool = torch.rand(steps + 2, env.num_envs, *space.shape, generator=generator) * 2 - 1
    for t in range(2):  # the capture happens here
        env.step(pool[t])
    with counter:
        for t in range(2, steps + 2):
            env.step(pool[t])
    env.close()
    return {"ops": counter.ops / steps, "launches": counter.launches / steps}


def minibatch_launches(preset: str, env_id: str = "CuedBerry-v1", num_envs: int = 8, num_steps: int = 16,
                       foreach: Optional[bool] = None) -> dict:
    """Aten ops of one PPO minibatch of ``preset`` (replay, losses, backward, clipping, Adam), counted by
    `common.dispatch.OpCounter` as the difference between one epoch of two minibatches and one epoch of one,
    on the same rollout of ``num_envs`` worlds x ``num_steps`` steps (the trainer's default BPTT length):
    {"ops", "launches"}. ``foreach``: Adam's (None: torch's default, per-parameter on the CPU, multi-tensor
    on CUDA; True counts the CUDA default on the CPU)."""
    import gymnasium as gym

    import agents
    from agents.ppo import PPOSettings, Rollout, compute_gae, ppo_update
    from agents.runner import Carry
    from common.dispatch import OpCounter

    env = gym.make_vec(env_id, num_envs=num_envs, device="cpu", copy=False, validate_actions=False)
    torch.manual_seed(0)
    agent = agents.make_agent(preset, env.single_observation_space, env.single_action_space)
    generator = torch.Generator().manual_seed(0)
    obs = env.reset(seed=0)[0]
    carry = Carry.start(agent, num_envs, "cpu")
    rollout = Rollout.allocate(num_steps, obs, torch.zeros(num_envs, dtype=torch.long))
    obs, carry, _ = collect(agent, env, obs, carry, rollout, generator)
    with torch.no_grad():
        boot = carry.act(agent, obs)
    advantages, returns = compute_gae(rollout, boot.value, 0.99, 0.95)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-4, eps=1e-5, foreach=foreach)
    counts = {}
    for minibatches in (1, 2, 1, 2):  # the first pair warms up (Adam's state, lazy modules)
        settings = PPOSettings(update_epochs=1, num_minibatches=minibatches, clip_coef=0.2, clip_vloss=True,
                               ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, norm_adv=True)
        with OpCounter() as counter:
            ppo_update(agent, optimizer, rollout, advantages, returns, settings, generator=generator)
        counts[minibatches] = counter
    env.close()
    return {"ops": counts[2].ops - counts[1].ops, "launches": counts[2].launches - counts[1].launches}


LAUNCH_WORLDS = (("RedBerry-v1", {}), ("CuedBerry-v1", {"difficulty": "hard"}), ("ReversalBerry-v1", {}),
                 ("MultiBerry-v1", {}))


def bench_launches(presets: Sequence[str], worlds=LAUNCH_WORLDS) -> dict:
    """Print and return the aten ops and GPU kernel launches per world step (`world_step_launches`) and per PPO
    minibatch (`minibatch_launches`, Adam as on the CPU and multi-tensor as on CUDA)."""
    torch.set_num_threads(1)
    print("aten ops counted by a TorchDispatchMode on the CPU (common.dispatch.OpCounter); 'launches' leaves out "
          "views and allocations, which launch no GPU kernel")
    rows = {}
    print(f"{'world step':<34} {'ops':>8} {'launches':>9} {'launches, captured':>19}")
    for env_id, kwargs in worlds:
        name = env_id + "".join(f" {k}={v}" for k, v in kwargs.items())
        rows[name] = world_step_launches(env_id, **kwargs)
        rows[name]["launches_captured"] = world_step_launches(env_id, captured=True, **kwargs)["launches"]
        print(f"{name:<34} {rows[name]['ops']:>8.0f} {rows[name]['launches']:>9.0f} "
              f"{rows[name]['launches_captured']:>19.0f}", flush=True)
    print(f"{'PPO minibatch (T=16)':<34} {'ops':>8} {'launches':>9} {'launches, foreach Adam':>23}")
    for preset in presets:
        cpu = minibatch_launches(preset)
        cuda_like = minibatch_launches(preset, foreach=True)
        rows[preset] = {**cpu, "launches_foreach": cuda_like["launches"]}
        print(f"{preset:<34} {cpu['ops']:>8} {cpu['launches']:>9} {cuda_like['launches']:>23}", flush=True)
    return rows
