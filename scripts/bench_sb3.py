"""SB3 PPO steps/s through our batched adapter beside SB3's own `make_vec_env`, in one run.

    python scripts/bench_sb3.py                          # RedBerry-v1, 16 envs, 36 x 36 view
    python scripts/bench_sb3.py --num-envs 64 --rollouts 4

Both sides train the same PPO ("MultiInputPolicy", NatureCNN) on the same worlds: one through
`envs.sb3_vec_env` (one batched torch env), the other through `make_vec_env` (SB3's DummyVecEnv
over `gym.make` single envs, each with SB3's Monitor). Each side runs one warm-up rollout, then the
timed `learn` (collection and PPO updates), `repeats` times in alternating order; then the same
VecEnv alone under random actions, which shows how much of the PPO time is the env's; then the
adapter at the default 24x24 view with the shipped `envs.sb3_policy_kwargs()` extractor, as a ratio
to NatureCNN at `view_size`. Needs the [sb3] extra.
"""

from __future__ import annotations

import os
import sys
import time

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench_sb3(env_id: str = "RedBerry-v1", num_envs: int = 16, view_size: int = 36, n_steps: int = 128,
              rollouts: int = 3, n_epochs: int = 4, repeats: int = 2, threads: int = 1) -> dict[str, float]:
    """Time SB3 PPO through the adapter and through make_vec_env; print each side's steps/s (PPO, and the
    VecEnv alone) and end with 'adapter / make_vec_env: X.XX', the PPO ratio. Returns the mean PPO
    steps/s of each side, their ratio and the VecEnv-alone ratio.

    Args:
        env_id: A single-forager id (make_vec_env has no MultiBerry form).
        num_envs: Worlds stepped in parallel on each side.
        view_size: Side of the view; SB3's NatureCNN needs at least 36.
        n_steps: PPO rollout length per world.
        rollouts: Timed rollouts (each followed by its PPO update) per measurement.
        n_epochs: PPO epochs per update (batch size 256).
        repeats: Measurements per side, in alternating order.
        threads: torch CPU threads.
    """
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import envs

    torch.set_num_threads(threads)
    env_kwargs = {"view_size": view_size}
    makers = {
        "adapter": lambda: envs.sb3_vec_env(env_id, num_envs=num_envs, **env_kwargs),
        "make_vec_env": lambda: make_vec_env(env_id, n_envs=num_envs, seed=0, env_kwargs=env_kwargs),
    }
    batch = n_steps * num_envs
    print(f"SB3 PPO MultiInputPolicy on {env_id} {env_kwargs}: {num_envs} envs x {n_steps} steps per rollout, "
          f"{n_epochs} epochs, {rollouts} timed rollouts, {threads} torch thread(s)")
    sps: dict[str, list[float]] = {name: [] for name in makers}
    env_sps: dict[str, list[float]] = {name: [] for name in makers}
    for repeat in range(repeats):
        for name in (list(makers) if repeat % 2 == 0 else list(makers)[::-1]):
            model = PPO("MultiInputPolicy", makers[name](), n_steps=n_steps, batch_size=256, n_epochs=n_epochs,
                        seed=0, device="cpu")
            model.learn(total_timesteps=batch)  # warm-up: first rollout and update
            start = time.perf_counter()
            model.learn(total_timesteps=batch * rollouts, reset_num_timesteps=False)
            sps[name].append(batch * rollouts / (time.perf_counter() - start))
            venv = model.get_env()  # and the VecEnv alone, under random actions, for where the time goes
            venv.reset()
            start = time.perf_counter()
            for _ in range(n_steps):
                venv.step(np.random.randint(0, 5, num_envs))
            env_sps[name].append(batch / (time.perf_counter() - start))
            venv.close()
            print(f"repeat {repeat + 1}: {name:<13} PPO {sps[name][-1]:8,.0f} steps/s   "
                  f"VecEnv alone {env_sps[name][-1]:8,.0f} steps/s", flush=True)
    mean = {name: sum(values) / len(values) for name, values in sps.items()}
    env_mean = {name: sum(values) / len(values) for name, values in env_sps.items()}
    ratio = mean["adapter"] / mean["make_vec_env"]
    print(f"mean PPO steps/s: adapter {mean['adapter']:,.0f}, make_vec_env {mean['make_vec_env']:,.0f}; "
          f"VecEnv alone: adapter {env_mean['adapter']:,.0f}, make_vec_env {env_mean['make_vec_env']:,.0f} "
          f"({env_mean['adapter'] / env_mean['make_vec_env']:.1f}x)")
    # The other way to SB3 at the worlds' own 24x24 view: the shipped small-image extractor, same PPO.
    small = []
    for _ in range(repeats):
        model = PPO("MultiInputPolicy", envs.sb3_vec_env(env_id, num_envs=num_envs), n_steps=n_steps, batch_size=256,
                    n_epochs=n_epochs, seed=0, device="cpu", policy_kwargs=envs.sb3_policy_kwargs())
        model.learn(total_timesteps=batch)
        start = time.perf_counter()
        model.learn(total_timesteps=batch * rollouts, reset_num_timesteps=False)
        small.append(batch * rollouts / (time.perf_counter() - start))
    small_mean = sum(small) / len(small)
    print(f"adapter at the default 24x24 view with envs.sb3_policy_kwargs() (SmallImageExtractor): PPO "
          f"{small_mean:,.0f} steps/s, {small_mean / mean['adapter']:.2f}x NatureCNN at {view_size}x{view_size}")
    print(f"adapter / make_vec_env: {ratio:.2f}")
    return {**mean, "ratio": ratio, "env_ratio": env_mean["adapter"] / env_mean["make_vec_env"],
            "small_extractor": small_mean}


if __name__ == "__main__":
    tyro.cli(bench_sb3)
