"""What a training run shows its user: how to watch it (said before the first update), the printed
config, the progress bar and the closing note, and the TensorBoard run (the custom-scalars layout,
hparams, config text, scalars, the agent's view as a heat map, evaluation videos, the final evaluation).

Rank 0 keeps the logbook; on other ranks (under torchrun) every method does nothing. The numbers
are read to the host once per update by the trainer and handed in here. The statistics are
`training.stats`', the pictures `training.images`' and the summaries `training.summaries`'.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Optional

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs
from training import images, summaries
from training.build import make_env
from training.checkpoint import CHECKPOINT_FILE
from training.config import to_dict
from training.run_state import RunState

IMAGE_WORLDS = 4  # worlds shown in the agent-view image
FINAL_SEED_OFFSET = 3_000_000  # the final evaluation's worlds: seed + this + i, apart from training's and the video's
VIDEO_SEED_OFFSET = 2_000_000
CONFIDENCE = 0.95
# What the progress bar's numbers mean, printed before the first update.
BAR_LEGEND = ("SPS = env steps per second; ret = mean return and score = normalised score (0 random, 1 scripted) "
              "of the full episodes ended in the last update; r100 = reward per 100 steps, over all steps")
# Config fields that are no setting of the run (where it is written, how it is shown), or that HParams shows
# field by field (the agent's and the worlds' overrides).
NOT_HPARAMS = ("run_dir", "resume", "config", "progress", "agent_overrides", "env_kwargs")


class Logbook:
    """Console and TensorBoard output of one training call; use it as a context manager around the
    updates (on an error it closes the bar and flushes the writer); at the end call `final_evaluation`,
    then `close`."""

    def __init__(self, run: RunState, agent, num_params: int, num_updates: int, batch_size: int,
                 brief: bool = False, episode_steps: Optional[int] = None):
        """``brief``: a population's later runs print no config and no bar legend (the first run printed them)."""
        self.config, self.run_dir, self.device = run.config, run.run_dir, run.device
        self.reference = run.reference
        self.writer = self.bar = self.eval_env = None
        self.final: Optional[dict[str, float]] = None  # the final evaluation's numbers (`final_evaluation`)
        # Of the full episodes that ended in the last update logged (a resumed run starts from its checkpoint's).
        saved = run.last
        self.last_return: Optional[float] = saved.get("episodic_return")
        self.last_score: Optional[float] = saved.get("normalized_score")
        self.last_precision: Optional[float] = saved.get("precision")
        self.last_rate: Optional[float] = saved.get("reward_per_100_steps")  # reward per 100 steps
        self.last_sps: Optional[float] = saved.get("sps")  # the call's throughput at the last update logged
        self.episode_steps, self.worlds = episode_steps, batch_size // run.config.num_steps  # all processes
        # A forager that can die ends its episode early; elsewhere every full episode lasts episode_steps.
        self.lengths_vary = bool(run.config.env_kwargs.get("starvation_steps"))
        if not run.process.is_main:
            return

        config, process = run.config, run.process
        saved = to_dict(run.saved_config)
        print(("Resuming" if run.resumed else "Training") + f" in {run.run_dir} on {run.device}"
              + (f" x {process.world_size} processes" if process.distributed else ""))
        if not brief:
            print(json.dumps(saved, indent=2))
        steps = num_updates * batch_size
        rounded = f" (--total-steps {config.total_steps:,} in whole updates)" if steps != config.total_steps else ""
        print(f"agent: {config.agent}, {num_params:,} parameters; {num_updates} updates of {batch_size:,} steps = "
              f"{steps:,} steps{rounded}; reference returns {run.reference or 'n/a'}")
        print(f"Watch it: tensorboard --logdir {self.log_root()}  (open Custom Scalars for the forage charts first)")
        if not brief and config.progress:
            print(f"Progress bar: {BAR_LEGEND}.")
        # On resume, purge what the interrupted run logged after its checkpoint.
        self.writer = SummaryWriter(run.run_dir, purge_step=run.global_step + 1 if run.resumed else None)
        if not run.resumed:
            self.writer.add_custom_scalars(summaries.layout(agent.config))
            self.writer.add_text("config", summaries.config_table(saved))
            self.writer.add_text("agent_config", summaries.config_table(dataclasses.asdict(agent.config)))
            values, first = self._hparams(saved, agent, num_params)
            summaries.add_hparams(self.writer, values, first)
        self.bar = tqdm(total=steps, initial=run.global_step, dynamic_ncols=True, disable=not config.progress,
                        desc=f"{config.agent} seed {config.seed}",
                        bar_format="{l_bar}{bar}| {n:,}/{total:,} steps [{elapsed}<{remaining}{postfix}]")

    def log_root(self) -> str:
        """The folder to point TensorBoard at: the one holding this run (and its siblings)."""
        return os.path.dirname(os.path.normpath(self.run_dir)) or "."

    def _hparams(self, saved: dict, agent, num_params: int) -> tuple[dict, set]:
        """The run's hparams, env, agent, seed and total_steps first, then each field of the agent's config
        (agent.<field>) and each world keyword (env.<key>) as its own column, then the rest of the config;
        and the names to show first: env, agent, seed, total_steps and the agent's overrides."""
        agent_fields = dataclasses.asdict(agent.config)
        values = {name: saved[name] for name in ("env", "agent", "seed", "total_steps")}
        values.update({f"agent.{k}": v for k, v in agent_fields.items()})
        values.update({f"env.{k}": v for k, v in saved["env_kwargs"].items()})
        values.update({k: v for k, v in saved.items() if k not in values and k not in NOT_HPARAMS})
        values["agent_params"] = num_params
        overrides = [f"agent.{k}" for k in self.config.agent_overrides if k in agent_fields]
        return values, {"env", "agent", "seed", "total_steps", *overrides}

    def __enter__(self) -> "Logbook":
        return self

    def __exit__(self, error_type, _error, _traceback) -> None:
        if self.bar is not None:
            self.bar.close()
        if error_type is not None and self.writer is not None:
            self.writer.close()  # flush what was logged; nothing is saved over the last checkpoint

    def scalars(self, global_step: int, sps: float, learning_rate: float, losses: dict[str, torch.Tensor],
                means: dict[str, float]) -> None:
        """charts/SPS and learning_rate, losses/* (`agents.ppo.ppo_update`'s stats, read here in one
        go), the episode and mechanism means by tag, and the normalised score of the episodes that ended."""
        if self.writer is None:
            return
        self.writer.add_scalar("charts/learning_rate", learning_rate, global_step)
        self.writer.add_scalar("charts/SPS", sps, global_step)
        self.last_sps = sps
        for key, value in zip(losses, torch.stack(list(losses.values())).tolist()):
            if key != "finite":  # 1 when every loss was finite: the trainer's check, not a loss
                self.writer.add_scalar(f"losses/{key}", value, global_step)
        for tag, value in means.items():
            if tag != "charts/episodic_length" or self.lengths_vary:  # else episode_steps, by construction
                self.writer.add_scalar(tag, value, global_step)
        self.last_rate = means.get("charts/reward_per_100_steps", self.last_rate)
        if "charts/episodic_return" in means:
            self.last_return = means["charts/episodic_return"]
            self.last_precision = means.get("forage/precision", self.last_precision)
            self.last_score = self._score(self.last_return)
            if self.last_score is not None:
                self.writer.add_scalar("forage/normalized_score", self.last_score, global_step)
        self.bar.update(global_step - self.bar.n)
        self.bar.set_postfix({"SPS": f"{sps:,.0f}", "ret": _fmt(self.last_return, "-"),  # BAR_LEGEND's order
                              "score": _fmt(self.last_score, "-"), "r100": _fmt(self.last_rate, "-")}, refresh=False)

    def last(self) -> dict[str, Optional[float]]:
        """The latest logged numbers, saved in the checkpoint ("last"), so a run resumed after its final
        update (e.g. killed before its caller read them) still reports them."""
        return {"episodic_return": self.last_return, "normalized_score": self.last_score,
                "precision": self.last_precision, "reward_per_100_steps": self.last_rate, "sps": self.last_sps}

    def _score(self, episodic_return: float) -> Optional[float]:
        """DESIGN.md's normalised score (`envs.normalized_score`); None without usable references."""
        if not self.reference or self.reference["scripted"] == self.reference["random"]:
            return None
        return float(envs.normalized_score(episodic_return, self.reference))

    def view(self, global_step: int, views: torch.Tensor, gains: Optional[torch.Tensor],
             goals: Optional[torch.Tensor] = None) -> None:
        """The first worlds' views (N, H, W, 3) beside their spatial gain maps (N, h, w) as heat maps, with
        their goals (N, P) marked (`images.view_panel`); gains and goals may be None."""
        if self.writer is None:
            return
        panel = images.view_panel(views[:IMAGE_WORLDS].cpu().numpy(),
                                  None if gains is None else gains[:IMAGE_WORLDS].cpu(),
                                  None if goals is None else goals[:IMAGE_WORLDS].cpu().numpy())
        self.writer.add_image("views/agent_view_spatial_gain", panel, global_step, dataformats="HWC")

    def video(self, agent, global_step: int) -> None:
        """A GIF of one evaluation episode (the same world every time); its return is in the frames'
        captions, not a scalar: one episode is no measure (the final evaluation is)."""
        if self.writer is None:
            return
        if self.eval_env is None:
            self.eval_env = make_env(self.config, 1, self.device, validate_actions=False)
        frames, _ = images.record_episode(agent, self.eval_env, self.config.seed + VIDEO_SEED_OFFSET, self.device)
        summaries.add_gif(self.writer, "eval/video", frames, global_step, fps=15)

    def final_evaluation(self, agent, global_step: int) -> Optional[dict[str, float]]:
        """The policy as saved, one full episode in each of --final-episodes fresh worlds (seeds
        seed + 3,000,000 + i), run by compare's evaluation (`compare.evaluate.run_episodes`, actions sampled
        as in training); logged at ``global_step`` as final/* with 95% Student-t intervals (final/<x>_lower,
        final/<x>_upper) and final/episodes, and shown by `close` and HParams. Returns the numbers (None
        where skipped: --final-episodes 0, or a rank other than 0)."""
        if self.writer is None or not self.config.final_episodes or not self.episode_steps:
            return None
        # compare sits above training (it trains through it): imported here, where it is used, not at load.
        from compare.evaluate import AgentPolicy, EnvSpec, make_env as make_eval_env, run_episodes

        kwargs = {**self.config.env_make_kwargs(), "max_episode_steps": self.episode_steps}
        if "stagger_start" in kwargs:  # full episodes only
            kwargs["stagger_start"] = False
        spec = EnvSpec("final", self.config.env, tuple(sorted(kwargs.items())), False, self.config.final_episodes,
                       (self.config.seed + FINAL_SEED_OFFSET) % 2 ** 31)
        if self.bar is not None:
            self.bar.set_description_str("final evaluation", refresh=True)
        env, training = make_eval_env(spec, self.device), agent.training
        try:
            agent.eval()
            measured = run_episodes(env, spec, AgentPolicy(agent))
        finally:
            agent.train(training)
            env.close()
        self.final = final = _final_numbers(measured, self.episode_steps, self.reference)
        for name, value in final.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(f"final/{name}", value, global_step)
        return final

    def close(self, global_step: int, update: int, num_updates: int, elapsed: float, sps: float,
              stopped: bool) -> None:
        """The bar's last line, then the closing note on the console: the final evaluation (else the last
        training numbers), where the checkpoint is and how to watch; the hparams session ends."""
        if self.eval_env is not None:
            self.eval_env.close()
        if self.bar is not None:
            self.bar.set_description_str("", refresh=False)
            self.bar.close()  # now, so that it is not drawn again below the note
        if self.writer is None:
            return
        if not stopped:
            summaries.end_hparams(self.writer)
        self.writer.close()
        head = (f"Stopped at update {update:,} of {num_updates:,}" if stopped else f"Finished {num_updates:,} updates")
        print(f"{head}: {global_step:,} steps in {elapsed / 60:.1f} min ({sps:,.0f} steps/s).")
        ref = self.reference
        ref = f" (0 = random, {ref['random']:.2f}; 1 = scripted, {ref['scripted']:.2f})" if ref else ""
        final = self.final
        if final is not None:
            print(f"Final evaluation, {final['episodes']:.0f} episodes of {self.episode_steps} steps in fresh worlds "
                  f"(95% intervals): normalised score {_pm(final, 'normalized_score')}{ref}, "
                  f"return {_pm(final, 'episodic_return')}, precision {_fmt(final['precision'])}, "
                  f"reward per 100 steps {_pm(final, 'reward_per_100_steps')}.")
        elif self.last_return is not None:
            print(f"Last full episodes in training: return {_fmt(self.last_return)}, normalised score "
                  f"{_fmt(self.last_score)}{ref}, precision {_fmt(self.last_precision)}; reward per 100 steps "
                  f"{_fmt(self.last_rate)}.")
        else:
            print(f"Reward per 100 steps in the last update: {_fmt(self.last_rate)}.")
        if self.last_return is None and self.episode_steps:
            rates = "charts/reward_per_100_steps and forage/targets_per_100_steps show the learning"
            if self.config.stagger_start:
                print(f"No episode ended in training: each world's first episode ends at a uniform step below "
                      f"{self.episode_steps}, and none had ended in these {global_step // self.worlds:,} steps a "
                      f"world; {rates}.")
            else:
                print(f"No full episode ended in training: episodes last {self.episode_steps} steps, and with "
                      f"{self.worlds:,} worlds starting together (--no-stagger-start) the first returns come after "
                      f"{self.episode_steps * self.worlds:,} steps; until then {rates}.")
        print(f"Checkpoint: {os.path.join(self.run_dir, CHECKPOINT_FILE)}")
        if stopped:
            print(f"Continue with: python scripts/train.py --resume {self.run_dir}")
        print(f"See it: tensorboard --logdir {self.log_root()}  (Custom Scalars: forage first; Scalars: final/, "
              f"forage/, charts/, losses/ and the mechanisms; Images: views/, eval/video; HParams)")


def _final_numbers(measured: dict, episode_steps: int, reference: dict) -> dict[str, Optional[float]]:
    """final/* from `compare.evaluate.run_episodes`' cell: the means and their 95% Student-t interval
    (mean +- t * standard error over the episodes). The score and the reward per 100 steps are linear in the
    return, so their intervals are its own, mapped; precision is pooled over the episodes (no interval)."""
    from scipy import stats

    n, mean, se = measured["episodes"], measured["return_mean"], measured["return_se"]
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * se if n > 1 else math.nan
    out = {"episodes": float(n), "precision": measured["precision"], "target_eaten": measured["target_eaten"],
           "distractor_eaten": measured["distractor_eaten"]}

    def with_interval(name: str, value: float, half_width: float) -> None:
        out[name], out[f"{name}_lower"], out[f"{name}_upper"] = value, value - half_width, value + half_width

    with_interval("episodic_return", mean, half)
    with_interval("reward_per_100_steps", 100.0 * mean / episode_steps, 100.0 * half / episode_steps)
    if reference and reference["scripted"] != reference["random"]:
        span = abs(reference["scripted"] - reference["random"])
        with_interval("normalized_score", float(envs.normalized_score(mean, reference)), half / span)
    return out


def _pm(final: dict, name: str) -> str:
    """'value +- half-width' of a final number, 'n/a' where it is missing."""
    value = final.get(name)
    if value is None:
        return "n/a"
    half = (final[f"{name}_upper"] - final[f"{name}_lower"]) / 2
    return f"{value:.2f} ± {half:.2f}" if math.isfinite(half) else f"{value:.2f}"


def _fmt(value: Optional[float], missing: str = "n/a") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"
