"""The training run: set up, then for every update collect -> bootstrap -> GAE -> optimise -> log.

`train` reads top to bottom like CleanRL's ``ppo_atari_lstm.py``; the PPO maths (rollout
storage, GAE, the clipped loss, minibatching by environment) lives in `agents.ppo`, and the
TensorBoard pieces in `training.monitor`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from agents.ppo import Rollout, compute_gae, ppo_update
from training import distributed, monitor
from training.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from training.config import CONFIG_FILE, Config, ConfigError, to_dict, validate

# Fields that define the worlds, the agent and the RNG streams: a resumed run must keep them.
RESUME_FIXED = ("env", "agent", "num_envs", "seed", "difficulty", "view_size", "max_episode_steps",
                "action_type", "env_kwargs", "agent_overrides")
IMAGE_WORLDS = 4  # worlds shown in the agent-view image
VIDEO_MAX_FRAMES = 150  # frames kept from an evaluation episode (every k-th step)
VIDEO_SIZE = 192  # pixels of the arena's side in the video (the agent's view is scaled to match)


# The policy's actions are valid by construction, so the env's per-step value check (a host
# sync) is off; copy=False skips a clone of each image, which the rollout storage copies anyway.
TRAINING_ENV_OPTIONS = {"copy": False, "validate_actions": False}


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN or infinite; training stopped without saving."""


@dataclass
class TrainResult:
    """What a call of `train` did."""

    run_dir: Optional[str]  # None on ranks other than 0
    global_step: int  # env steps trained so far, all processes, resumes included
    updates: int  # PPO updates so far
    episodic_return: Optional[float]  # mean return of the episodes of the last update(s) logged
    normalized_score: Optional[float]  # (return - random) / (scripted - random)
    sps: float  # end-to-end env steps per second of this call, all processes
    elapsed: float  # training seconds of the whole run, resumes included
    interrupted: bool  # stopped early (Ctrl-C, SIGTERM or max_updates) with a checkpoint
    reference: dict  # {"random": ..., "scripted": ...} reference returns, or {}
    agent_params: int  # trainable parameters of the agent


def resolve_device(choice: str) -> torch.device:
    """--device auto|cpu|cuda -> a torch device (auto: cuda when available), via the envs' resolver."""
    from envs.vector import resolve_device as resolve

    if choice not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device: got {choice!r}; allowed: auto, cpu, cuda")
    try:
        return resolve(choice)
    except ValueError as exc:
        raise ConfigError(f"--device: {exc}") from None


def set_cpu_threads(processes_here: int = 1) -> None:
    """Give each training process on this machine its share of the cores, less one.

    torch's worker threads spin while they wait, so when the cores are oversubscribed (the
    TensorBoard event writer, a browser, another run) small convolutions slow down many times
    over: measured on a 2-core VM, 2 threads were 1.25x faster than 1 when idle and 20-80x slower
    beside one other busy process. So one core is left free, and a 2-core machine trains on one
    thread. OMP_NUM_THREADS, when set, rules.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // processes_here - 1))


def _to(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with every tensor inside (dicts, lists, tuples) cloned onto ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


def make_env(config: Config, num_envs: int, device: torch.device, **options):
    """gym.make_vec for the run's task and world settings; bad settings raise ConfigError.

    ``options`` go to the vector env as they are (the trainer passes copy=False and
    validate_actions=False; see `TRAINING_ENV_OPTIONS`)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the tasks)

    kwargs = config.env_make_kwargs()
    spec = gym.registry.get(config.env)
    if spec is None or spec.vector_entry_point is None:
        ids = sorted(k for k, s in gym.registry.items() if s.vector_entry_point is not None
                     and "Berry" in k)
        raise ConfigError(f"--env: got {config.env!r}; allowed: {', '.join(ids)}")
    try:
        return gym.make_vec(config.env, num_envs=num_envs, device=str(device), **options, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"world settings (--difficulty, --view-size, --max-episode-steps, --action-type, --env-kwargs "
            f"{kwargs}): {exc}"
        ) from None


def make_agent(config: Config, env, agent_config: Optional[dict] = None) -> torch.nn.Module:
    """The agent preset with --agent-overrides (or, on resume, exactly the saved agent config)."""
    import agents

    if agent_config is not None:
        return agents.agent_from_config(agent_config, env.single_observation_space, env.single_action_space)
    presets = getattr(agents, "PRESETS", None)
    if presets is not None and config.agent not in presets:
        raise ConfigError(f"--agent: got {config.agent!r}; allowed: {', '.join(presets)}")
    try:
        return agents.make_agent(config.agent, env.single_observation_space, env.single_action_space,
                                 **config.agent_make_overrides())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--agent-overrides {config.agent_overrides}: {exc}") from None


def reference_returns(config: Config, device: torch.device) -> dict:
    """Mean episodic returns of the random and scripted reference policies on the run's worlds,
    which forage/normalized_score is measured against. Leaves torch's RNG untouched."""
    import envs

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        ref = envs.reference_returns(config.env, num_envs=32, seed=config.seed + 1_000_000, device=str(device),
                                     **config.env_make_kwargs())
    return {"random": float(ref["random"]), "scripted": float(ref["scripted"])}


def normalized_score(episodic_return: float, reference: dict) -> Optional[float]:
    """DESIGN.md's (return - random) / (scripted - random); None without usable references."""
    import envs

    if not reference or reference["scripted"] == reference["random"]:
        return None
    return float(envs.normalized_score(episodic_return, reference))


def record_episode(agent, env, seed: int, device: torch.device) -> tuple[list[np.ndarray], float]:
    """Run one evaluation episode in a 1-world ``env``; return GIF frames (arena | agent view with
    spatial gain) and its return. Samples actions on a forked RNG, so training's stream is intact."""
    obs, _ = env.reset(seed=seed)
    slots = env.num_envs  # 1, or the foragers of one MultiBerry arena (the video follows the first)
    state = agent.initial_state(slots, device=device)
    episode_start = torch.ones(slots, dtype=torch.bool, device=device)
    prev_reward = torch.zeros(slots, device=device)
    limit = env.config.max_episode_steps
    stride = max(1, math.ceil(limit / VIDEO_MAX_FRAMES))
    frames, total = [], 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        for t in range(limit + 1):
            out = agent(obs, state, episode_start, prev_reward)
            if t % stride == 0:
                gain = out.internals.get("spatial_gain")
                frames.append(monitor.video_frame(
                    env.render_arena(0, size=VIDEO_SIZE), obs["image"][0].cpu().numpy(),
                    None if gain is None else gain[0]))
            obs, reward, terminated, truncated, _ = env.step(_env_action(out.dist.sample(), env))
            total += float(reward[0])
            if bool(terminated[0] | truncated[0]):
                break
            state, episode_start, prev_reward = out.state, terminated | truncated, reward
    return frames, total


def _env_action(action: torch.Tensor, env) -> torch.Tensor:
    """Continuous samples are clipped to the action box for the env (the unclipped sample is what
    the loss sees, as in CleanRL); discrete ones pass unchanged."""
    space = env.single_action_space
    if action.is_floating_point():
        return action.clamp(float(np.min(space.low)), float(np.max(space.high)))
    return action


def _action_example(env, num_envs: int, device: torch.device) -> torch.Tensor:
    space = env.single_action_space
    if hasattr(space, "n"):
        return torch.zeros(num_envs, dtype=torch.long, device=device)
    return torch.zeros((num_envs, *space.shape), dtype=torch.float32, device=device)


def _write_json(path: str, values: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(values, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def train(config: Config, *, max_updates: Optional[int] = None) -> TrainResult:
    """Train ``config.agent`` on ``config.env`` with recurrent PPO; see `Config` for every setting.

    Bad settings raise ConfigError (a ValueError naming the flag) before any training step.
    ``max_updates`` stops this call after that many updates, with a checkpoint, as Ctrl-C does
    (for tests and time-boxed runs; ``--resume`` continues). A non-finite loss or parameter raises
    NonFiniteError naming the update, and nothing is saved over the last good checkpoint.
    """
    validate(config)
    device = resolve_device(config.device)
    process = distributed.setup(device.type)
    if device.type == "cuda" and process.distributed:
        device = torch.device("cuda", process.local_rank)
    if device.type == "cpu":
        set_cpu_threads(process.local_world_size)
    try:
        result = _train(config, device, process, max_updates)
    except BaseException:
        distributed.teardown(process)
        raise
    # Leave together: a process that tears gloo down while its peer still writes can abort.
    distributed.barrier(process)
    distributed.teardown(process)
    return result


def _train(config: Config, device: torch.device, process: distributed.Process,
           max_updates: Optional[int]) -> TrainResult:
    main = process.is_main
    # ---- resume: the saved run's checkpoint, checked before anything is built ------------------
    checkpoint = None
    if config.resume is not None:
        checkpoint = load_checkpoint(os.path.join(config.resume, CHECKPOINT_FILE), map_location="cpu")
        saved = json.loads(checkpoint["config"])
        for name in RESUME_FIXED:
            if saved[name] != getattr(config, name):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag}: the run in {config.resume!r} was trained with {saved[name]!r}, "
                                  f"got {getattr(config, name)!r}; a resumed run keeps its worlds and agent")
        if not checkpoint["ranks"]:
            raise ConfigError(f"--resume: {config.resume!r} holds an exported checkpoint without resume state "
                              f"(made by python -m training.export); resume from a run directory's own checkpoint")
        if len(checkpoint["ranks"]) != process.world_size:
            raise ConfigError(f"--nproc_per_node: the run in {config.resume!r} was trained by "
                              f"{len(checkpoint['ranks'])} process(es), got {process.world_size}")

    run_dir = None
    if main:
        run_dir = config.resume or config.run_dir or config.default_run_dir()
        if checkpoint is None and os.path.exists(os.path.join(run_dir, CHECKPOINT_FILE)):
            raise ConfigError(f"--run-dir: {run_dir!r} already holds a run's checkpoint; allowed: a new "
                              f"directory, or --resume {run_dir} to continue that run")

    # ---- seeding, worlds and agent ------------------------------------------------------------
    torch.manual_seed(config.seed)  # the same initial parameters on every process
    env = make_env(config, config.num_envs, device, **TRAINING_ENV_OPTIONS)
    if env.metadata.get("autoreset_mode") is None or env.metadata["autoreset_mode"].name != "NEXT_STEP":
        raise RuntimeError(f"{config.env}: the trainer needs AutoresetMode.NEXT_STEP, the env declares "
                           f"{env.metadata.get('autoreset_mode')}")
    slots = env.num_envs  # --num-envs worlds; on MultiBerry-v0, --num-envs arenas x their foragers
    agent = make_agent(config, env, None if checkpoint is None else json.loads(checkpoint["agent_config"]))
    agent.to(device)
    distributed.broadcast_parameters(agent, process)
    recurrent = bool(agent.initial_state(1, device=device))
    validate(config, recurrent=recurrent)
    batch_size = slots * config.num_steps * process.world_size  # env (forager) steps per update
    num_updates = config.total_steps // batch_size
    if num_updates < 1:
        raise ConfigError(f"--total-steps: got {config.total_steps}; allowed: at least one update's "
                          f"{batch_size} steps (--num-envs x --num-steps x processes)")
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    num_params = sum(p.numel() for p in agent.parameters())
    torch.manual_seed(config.seed * 1_000_003 + process.rank + 1)  # each process samples its own actions

    # ---- the carry between steps: observation, agent state, flags ------------------------------
    # episode_start[i]: obs[i] begins an episode; valid[i]: obs[i] is not a final observation
    # (under NEXT_STEP autoreset the action taken on a final observation does nothing).
    if checkpoint is None:
        obs, _ = env.reset(seed=config.seed + process.rank * config.num_envs)
        state = agent.initial_state(slots, device=device)
        episode_start = torch.ones(slots, dtype=torch.bool, device=device)
        valid = torch.ones(slots, dtype=torch.bool, device=device)
        prev_reward = torch.zeros(slots, device=device)
        start_update, global_step, elapsed_before = 0, 0, 0.0
        reference = reference_returns(config, device) if main else {}
    else:
        agent.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        entry = checkpoint["ranks"][process.rank]
        torch.set_rng_state(entry["rng_cpu"])
        if device.type == "cuda" and entry.get("rng_cuda"):
            torch.cuda.set_rng_state(entry["rng_cuda"][0], device)
        carry = _to(entry["carry"], device)
        if entry.get("env_state") is not None and hasattr(env, "set_state"):
            env.set_state(_to(entry["env_state"], device))
            obs, state = carry["obs"], carry["state"]
            episode_start, valid, prev_reward = carry["episode_start"], carry["valid"], carry["prev_reward"]
        else:
            warnings.warn("the env has no get_state/set_state: the resumed worlds start new episodes, "
                          "so the run is not an exact continuation")
            obs, _ = env.reset(seed=config.seed + process.rank * config.num_envs + checkpoint["global_step"])
            state = agent.initial_state(slots, device=device)
            episode_start = torch.ones(slots, dtype=torch.bool, device=device)
            valid = torch.ones(slots, dtype=torch.bool, device=device)
            prev_reward = torch.zeros(slots, device=device)
        start_update, global_step = int(checkpoint["update"]), int(checkpoint["global_step"])
        elapsed_before = float(checkpoint.get("elapsed", 0.0))
        reference = dict(checkpoint.get("reference", {}))

    # ---- the run directory, the TensorBoard writer, the printed config -------------------------
    writer, bar = None, None
    if main:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        os.makedirs(run_dir, exist_ok=True)
        saved_config = dataclasses.replace(config, run_dir=run_dir, resume=None, config=None)
        _write_json(os.path.join(run_dir, CONFIG_FILE), to_dict(saved_config))
        if reference:
            _write_json(os.path.join(run_dir, "reference.json"), reference)
        print(("Resuming" if checkpoint else "Training") + f" in {run_dir} on {device}"
              + (f" x {process.world_size} processes" if process.distributed else ""))
        print(json.dumps(to_dict(saved_config), indent=2))
        print(f"agent: {config.agent}, {num_params:,} parameters; "
              f"{num_updates} updates of {batch_size:,} steps; reference returns {reference or 'n/a'}")
        # On resume, purge what the interrupted run logged after its checkpoint.
        writer = SummaryWriter(run_dir, purge_step=global_step + 1 if checkpoint else None)
        if checkpoint is None:
            writer.add_text("config", monitor.config_table(to_dict(saved_config)))
            writer.add_text("agent_config", monitor.config_table(dataclasses.asdict(agent.config)))
            hparams = {k: v for k, v in to_dict(saved_config).items()
                       if k not in ("run_dir", "resume", "config", "progress")}
            monitor.add_hparams(writer, {**hparams, "agent_params": num_params})
        bar = tqdm(total=num_updates * batch_size, initial=global_step, unit="step", unit_scale=True,
                   dynamic_ncols=True, disable=not config.progress)

    # ---- Ctrl-C / SIGTERM: finish the update, save, exit ---------------------------------------
    stop_requested = [False]
    handlers = {}

    def request_stop(signum, _frame):
        stop_requested[0] = True
        signal.signal(signum, handlers[signum])  # a second signal acts at once
        if main:
            print(f"\n{signal.Signals(signum).name}: finishing this update and saving a checkpoint "
                  "(press Ctrl-C again to quit without saving)", file=sys.stderr)

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, request_stop)
    except ValueError:  # not the main thread: no signal handling
        handlers = {}

    def save(update: int) -> None:
        """Write the checkpoint (rank 0), with every process's RNG, worlds and carry."""
        entry = {
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": [torch.cuda.get_rng_state(device)] if device.type == "cuda" else [],
            "env_state": _to(env.get_state(), "cpu") if hasattr(env, "get_state") else None,
            "carry": _to({"obs": obs, "state": state, "episode_start": episode_start, "valid": valid,
                          "prev_reward": prev_reward}, "cpu"),
        }
        ranks = distributed.gather_to_main(entry, process)
        if main:
            save_checkpoint(os.path.join(run_dir, CHECKPOINT_FILE), {
                "config": json.dumps(to_dict(dataclasses.replace(config, run_dir=run_dir, resume=None, config=None))),
                "agent_config": json.dumps(dataclasses.asdict(agent.config)),
                "model": agent.state_dict(),
                "optimizer": optimizer.state_dict(),
                "update": update,
                "global_step": global_step,
                "elapsed": elapsed_before + (time.time() - start_time),
                "reference": reference,
                "ranks": ranks,
            })

    rollout = Rollout.allocate(config.num_steps, obs, _action_example(env, slots, device))
    reduce_gradients = distributed.gradient_reducer(agent, process)
    episodes = monitor.EpisodeStats(device)
    internals = monitor.InternalStats()
    eval_env = None
    last_return: Optional[float] = None
    last_score: Optional[float] = None
    last_precision: Optional[float] = None
    start_time = time.time()
    steady_time, steady_step = None, None  # timing from the end of this call's first update
    update = start_update
    stopped = False

    try:
        for update in range(start_update + 1, num_updates + 1):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - (update - 1.0) / num_updates)

            # 1. Collect: num_steps steps of every world into device storage; no host reads.
            rollout.initial_state = {k: v.clone() for k, v in state.items()}
            for step in range(config.num_steps):
                with torch.no_grad():
                    out = agent(obs, state, episode_start, prev_reward)
                    action = out.dist.sample()
                    for key, value in obs.items():
                        rollout.obs[key][step] = value
                    rollout.episode_start[step] = episode_start
                    rollout.valid[step] = valid
                    rollout.prev_rewards[step] = prev_reward
                    rollout.actions[step] = action
                    rollout.logprobs[step] = out.dist.log_prob(action)
                    rollout.values[step] = out.value
                    internals.record(out.internals)
                obs, reward, terminated, truncated, info = env.step(_env_action(action, env))
                rollout.rewards[step] = reward
                rollout.terminated[step] = terminated
                rollout.truncated[step] = truncated
                episode_start = ~valid  # the step after a final observation reset that world
                valid = ~(terminated | truncated)
                prev_reward = reward
                state = out.state
                episodes.record(info)
            global_step += batch_size

            # 2. Bootstrap: the value of the observation after the rollout.
            with torch.no_grad():
                next_value = agent(obs, state, episode_start, prev_reward).value

            # 3. Advantages (GAE) and value targets.
            advantages, returns = compute_gae(rollout, next_value, config.gamma, config.gae_lambda)

            # 4. Optimise the clipped PPO objective.
            stats = ppo_update(
                agent, optimizer, rollout, advantages, returns,
                update_epochs=config.update_epochs, num_minibatches=config.num_minibatches,
                clip_coef=config.clip_coef, clip_vloss=config.clip_vloss, ent_coef=config.ent_coef,
                vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm, norm_adv=config.norm_adv,
                target_kl=config.target_kl, reduce_gradients=reduce_gradients,
            )

            # 5. Check, log, checkpoint. The one host read of the update happens here.
            params_finite = torch.stack([torch.isfinite(p).all() for p in agent.parameters()]).all()
            if not bool(params_finite & (stats["finite"] > 0)):
                raise NonFiniteError(
                    f"update {update} (step {global_step:,}): a loss or parameter became NaN or infinite; "
                    f"training stopped. The last good checkpoint, "
                    f"{os.path.join(run_dir or config.resume or '<run dir>', CHECKPOINT_FILE)}, is left as it "
                    f"was. Try a lower --learning-rate or --max-grad-norm.")
            shared = distributed.all_sum(
                torch.cat([episodes.sums, torch.tensor([float(stop_requested[0])], device=device)]), process)
            episode_means = episodes.read(shared[:-1])
            stop = bool(shared[-1] > 0) or (max_updates is not None and update - start_update >= max_updates)
            if steady_time is None:
                steady_time, steady_step = time.time(), global_step

            if main:
                now = time.time()
                sps = (global_step - start_update * batch_size) / max(now - start_time, 1e-9)
                writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
                writer.add_scalar("charts/SPS", sps, global_step)
                for key, value in zip(stats, torch.stack(list(stats.values())).tolist()):
                    if key != "finite":
                        writer.add_scalar(f"losses/{key}", value, global_step)
                for tag, value in {**episode_means, **internals.read()}.items():
                    writer.add_scalar(tag, value, global_step)
                if "charts/episodic_return" in episode_means:
                    last_return = episode_means["charts/episodic_return"]
                    last_precision = episode_means.get("forage/precision", last_precision)
                    last_score = normalized_score(last_return, reference)
                    if last_score is not None:
                        writer.add_scalar("forage/normalized_score", last_score, global_step)
                if config.image_interval and update % config.image_interval == 0:
                    gains = out.internals.get("spatial_gain")
                    panel = monitor.view_panel(
                        rollout.obs["image"][-1, :IMAGE_WORLDS].cpu().numpy(),
                        None if gains is None else gains[:IMAGE_WORLDS].cpu())
                    writer.add_image("views/agent_view_spatial_gain", panel, global_step, dataformats="HWC")
                if config.video_interval and update % config.video_interval == 0 and not stop:
                    eval_env = _log_video(writer, agent, eval_env, config, device, global_step)
                bar.update(global_step - bar.n)
                bar.set_postfix(SPS=f"{sps:,.0f}", ret="-" if last_return is None else f"{last_return:.2f}",
                                score="-" if last_score is None else f"{last_score:.2f}", refresh=False)
            else:
                internals.read()

            if stop:
                stopped = True
                break
            if config.checkpoint_interval and update % config.checkpoint_interval == 0 and update < num_updates:
                save(update)
        save(update)
    except BaseException:
        if writer is not None:
            writer.close()  # flush what was logged; nothing is saved over the last checkpoint
        raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()

    elapsed_call = time.time() - start_time
    steps_call = global_step - start_update * batch_size
    if steady_time is not None and global_step > steady_step:
        sps_call = (global_step - steady_step) / max(time.time() - steady_time, 1e-9)
    else:
        sps_call = steps_call / max(elapsed_call, 1e-9)
    elapsed = elapsed_before + elapsed_call
    if main:
        if config.video_interval and update > start_update:
            eval_env = _log_video(writer, agent, eval_env, config, device, global_step)
        for tag, value in (("final/episodic_return", last_return), ("final/normalized_score", last_score),
                           ("final/precision", last_precision)):
            if value is not None:
                writer.add_scalar(tag, value, global_step)
        writer.close()
        _closing_note(run_dir, global_step, update, num_updates, elapsed, sps_call, last_return, last_score,
                      reference, stopped)
    env.close()
    if eval_env is not None:
        eval_env.close()
    return TrainResult(run_dir, global_step, update, last_return, last_score, sps_call, elapsed, stopped, reference,
                       num_params)


def _log_video(writer, agent, eval_env, config: Config, device, global_step: int):
    """Log a GIF of one evaluation episode (the same world every time) and its return; returns the
    1-world eval env, made on first use."""
    if eval_env is None:
        eval_env = make_env(config, 1, device, validate_actions=False)
    frames, total = record_episode(agent, eval_env, config.seed + 2_000_000, device)
    monitor.add_gif(writer, "eval/video", frames, global_step, fps=15)
    writer.add_scalar("eval/episodic_return", total, global_step)
    return eval_env


def _closing_note(run_dir, global_step, update, num_updates, elapsed, sps, last_return, last_score,
                  reference, stopped) -> None:
    ret = "n/a" if last_return is None else f"{last_return:.2f}"
    score = "n/a" if last_score is None else f"{last_score:.2f}"
    ref = (f" (random {reference['random']:.2f}, scripted {reference['scripted']:.2f})" if reference else "")
    head = (f"Stopped at update {update}/{num_updates}" if stopped else f"Finished {num_updates} updates")
    print(f"{head}: {global_step:,} steps in {elapsed / 60:.1f} min ({sps:,.0f} steps/s). "
          f"Last episodic return {ret}, normalised score {score}{ref}.")
    print(f"Checkpoint: {os.path.join(run_dir, CHECKPOINT_FILE)}")
    if stopped:
        print(f"Continue with: python scripts/train.py --resume {run_dir}")
    print(f"See it: tensorboard --logdir {os.path.dirname(os.path.normpath(run_dir)) or '.'}  "
          f"(Scalars: charts/, forage/, attention/; Images: views/, eval/video; HParams)")
