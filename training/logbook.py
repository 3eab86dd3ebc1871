"""What a training run shows its user: the printed config and closing note, the progress bar, and
the TensorBoard run (config text, hparams, scalars, the agent's view, evaluation videos).

Rank 0 keeps the logbook; on other ranks (under torchrun) every method does nothing. The numbers
are read to the host once per update by the trainer and handed in here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs
from training import monitor
from training.build import make_env
from training.checkpoint import CHECKPOINT_FILE
from training.config import to_dict
from training.run_state import RunState

IMAGE_WORLDS = 4  # worlds shown in the agent-view image


class Logbook:
    """Console and TensorBoard output of one training call; use it as a context manager around the
    updates (it closes the progress bar, and on an error flushes the writer), then call `close`."""

    def __init__(self, run: RunState, agent, num_params: int, num_updates: int, batch_size: int,
                 brief: bool = False, episode_steps: Optional[int] = None):
        """``brief``: a population's later runs print one line (the first prints the config) and no bar."""
        self.config, self.run_dir, self.device = run.config, run.run_dir, run.device
        self.reference = run.reference
        self.writer = self.bar = self.eval_env = None
        # Of the episodes that ended in the last update logged (a resumed run starts from its checkpoint's).
        saved = run.last
        self.last_return: Optional[float] = saved.get("episodic_return")
        self.last_score: Optional[float] = saved.get("normalized_score")
        self.last_precision: Optional[float] = saved.get("precision")
        self.last_rate: Optional[float] = saved.get("reward_per_100_steps")  # reward per 100 steps
        self.last_sps: Optional[float] = saved.get("sps")  # the call's throughput at the last update logged
        self.episode_steps, self.worlds = episode_steps, batch_size // run.config.num_steps  # all processes
        if not run.process.is_main:
            return

        config, process = run.config, run.process
        saved = to_dict(run.saved_config)
        print(("Resuming" if run.resumed else "Training") + f" in {run.run_dir} on {run.device}"
              + (f" x {process.world_size} processes" if process.distributed else ""))
        if not brief:
            print(json.dumps(saved, indent=2))
        print(f"agent: {config.agent}, {num_params:,} parameters; "
              f"{num_updates} updates of {batch_size:,} steps; reference returns {run.reference or 'n/a'}")
        # On resume, purge what the interrupted run logged after its checkpoint.
        self.writer = SummaryWriter(run.run_dir, purge_step=run.global_step + 1 if run.resumed else None)
        if not run.resumed:
            self.writer.add_text("config", monitor.config_table(saved))
            self.writer.add_text("agent_config", monitor.config_table(dataclasses.asdict(agent.config)))
            hparams = {k: v for k, v in saved.items() if k not in ("run_dir", "resume", "config", "progress")}
            monitor.add_hparams(self.writer, {**hparams, "agent_params": num_params})
        self.bar = tqdm(total=num_updates * batch_size, initial=run.global_step, unit="step", unit_scale=True,
                        dynamic_ncols=True, disable=brief or not config.progress)

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
            self.writer.add_scalar(tag, value, global_step)
        self.last_rate = means.get("charts/reward_per_100_steps", self.last_rate)
        if "charts/episodic_return" in means:
            self.last_return = means["charts/episodic_return"]
            self.last_precision = means.get("forage/precision", self.last_precision)
            self.last_score = self._score(self.last_return)
            if self.last_score is not None:
                self.writer.add_scalar("forage/normalized_score", self.last_score, global_step)
        self.bar.update(global_step - self.bar.n)
        self.bar.set_postfix(SPS=f"{sps:,.0f}", ret=_fmt(self.last_return, "-"),
                             score=_fmt(self.last_score, "-"), r100=_fmt(self.last_rate, "-"), refresh=False)

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

    def view(self, global_step: int, images, gains) -> None:
        """The first worlds' views (N, H, W, 3) beside their spatial gain maps (N, h, w) or None."""
        if self.writer is None:
            return
        panel = monitor.view_panel(images[:IMAGE_WORLDS].cpu().numpy(),
                                   None if gains is None else gains[:IMAGE_WORLDS].cpu())
        self.writer.add_image("views/agent_view_spatial_gain", panel, global_step, dataformats="HWC")

    def video(self, agent, global_step: int) -> None:
        """A GIF of one evaluation episode (the same world every time) and its return."""
        if self.writer is None:
            return
        if self.eval_env is None:
            self.eval_env = make_env(self.config, 1, self.device, validate_actions=False)
        frames, total = monitor.record_episode(agent, self.eval_env, self.config.seed + 2_000_000, self.device)
        monitor.add_gif(self.writer, "eval/video", frames, global_step, fps=15)
        self.writer.add_scalar("eval/episodic_return", total, global_step)

    def close(self, global_step: int, update: int, num_updates: int, elapsed: float, sps: float,
              stopped: bool) -> None:
        """The final/* scalars (the hparams metrics), then the closing note on the console."""
        if self.eval_env is not None:
            self.eval_env.close()
        if self.writer is None:
            return
        for tag, value in (("final/episodic_return", self.last_return), ("final/normalized_score", self.last_score),
                           ("final/precision", self.last_precision), ("final/reward_per_100_steps", self.last_rate)):
            if value is not None:
                self.writer.add_scalar(tag, value, global_step)
        self.writer.close()
        ref = self.reference
        ref = f" (random {ref['random']:.2f}, scripted {ref['scripted']:.2f})" if ref else ""
        head = f"Stopped at update {update}/{num_updates}" if stopped else f"Finished {num_updates} updates"
        print(f"{head}: {global_step:,} steps in {elapsed / 60:.1f} min ({sps:,.0f} steps/s). "
              f"Last episodic return {_fmt(self.last_return)}, normalised score {_fmt(self.last_score)}{ref}; "
              f"reward per 100 steps {_fmt(self.last_rate)}.")
        if self.last_return is None and self.episode_steps:
            print(f"No episode ended: every world starts its first episode together and episodes last "
                  f"{self.episode_steps} steps, so the first returns come after {self.episode_steps * self.worlds:,} "
                  f"steps; until then charts/reward_per_100_steps and forage/targets_per_100_steps show the learning.")
        print(f"Checkpoint: {os.path.join(self.run_dir, CHECKPOINT_FILE)}")
        if stopped:
            print(f"Continue with: python scripts/train.py --resume {self.run_dir}")
        print(f"See it: tensorboard --logdir {os.path.dirname(os.path.normpath(self.run_dir)) or '.'}  "
              f"(Scalars: charts/, forage/, attention/; Images: views/, eval/video; HParams)")


def _fmt(value: Optional[float], missing: str = "n/a") -> str:
    return missing if value is None else f"{value:.2f}"
