"""TensorBoard summaries beyond scalars and images: the custom-scalars layout, HParams, the config as a
table, and GIF videos.

- `layout`: the custom-scalars dashboard of a run (TensorBoard's ``custom_scalars`` plugin), opening
  with what the run is for: forage (normalised score, precision, reward and berries per 100 steps),
  then the agent's mechanisms (attention, gating, dopamine), the losses and the remaining charts.
- `add_hparams`: the hparams plugin's experiment, session start and end, written with the
  plugin's protos directly, because ``SummaryWriter.add_hparams`` writes booleans as numbers
  (``isinstance(True, int)``) and into a subfolder. TensorBoard's HParams dashboard lists the
  hparams marked ``differs`` first, by name, and shows the first five: a run marks its task, agent,
  seed, length and agent overrides so.
- `add_gif`: an animated GIF as an image summary (Images tab); ``SummaryWriter.add_video`` needs
  moviepy < 2 and silently writes nothing without it.
"""

from __future__ import annotations

import json
import time
from typing import Iterable, Sequence

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo
from torch.utils.tensorboard import SummaryWriter

from common.video import encode_gif

# The metrics of the HParams table, in the order it shows them (the first five): the final evaluation.
HPARAM_METRICS = ("final/normalized_score", "final/precision", "final/reward_per_100_steps",
                  "final/episodic_return", "charts/SPS")


def layout(agent_config) -> dict:
    """The custom-scalars layout of a run of an agent with ``agent_config`` (`agents.config.AgentConfig`):
    {category: {chart title: ["Multiline", [tag regexes]] or ["Margin", [value, lower, upper]]}}, forage
    first; a mechanism's category only where the agent has that mechanism."""
    categories = {
        "forage": {
            "normalised score (0 random, 1 scripted)": ["Multiline", ["forage/normalized_score"]],
            "precision (targets / berries eaten)": ["Multiline", ["forage/precision"]],
            "reward per 100 steps": ["Multiline", ["charts/reward_per_100_steps"]],
            "targets and distractors per 100 steps": ["Multiline", ["forage/targets_per_100_steps",
                                                                    "forage/distractors_per_100_steps"]],
            "targets and distractors per episode": ["Multiline", ["forage/target_eaten", "forage/distractor_eaten"]],
            "final evaluation: normalised score, 95% CI": ["Margin", ["final/normalized_score",
                                                                       "final/normalized_score_lower",
                                                                       "final/normalized_score_upper"]],
        },
    }
    if getattr(agent_config, "goal_pathway", None) == "topdown":
        categories["attention"] = {
            "channel gain (mean)": ["Multiline", ["attention/channel_gain/.*"]],
            "channel gain spread (std across channels)": ["Multiline", ["attention/channel_gain_spread/.*"]],
            "spatial gain spread (std across the map)": ["Multiline", ["attention/spatial_gain_std"]],
            "spatial index (gain on targets / elsewhere)": ["Multiline", ["attention/spatial_index"]],
        }
    if getattr(agent_config, "whatwhere", False):
        categories["gating"] = {"what and where gates": ["Multiline", ["gating/what", "gating/where"]]}
    if getattr(agent_config, "plastic", False):
        categories["dopamine"] = {
            "TD error (mean, mean of |.|)": ["Multiline", ["dopamine/delta", "dopamine/delta_abs"]],
            "Hebbian trace norm": ["Multiline", ["dopamine/trace_norm"]],
        }
    categories["losses"] = {
        "policy loss": ["Multiline", ["losses/policy_loss"]],
        "value loss": ["Multiline", ["losses/value_loss"]],
        "entropy": ["Multiline", ["losses/entropy"]],
        "approximate KL": ["Multiline", ["losses/approx_kl", "losses/old_approx_kl"]],
        "clip fraction": ["Multiline", ["losses/clipfrac"]],
        "explained variance": ["Multiline", ["losses/explained_variance"]],
    }
    categories["charts"] = {
        "episodic return": ["Multiline", ["charts/episodic_return"]],
        "steps per second": ["Multiline", ["charts/SPS"]],
        "learning rate": ["Multiline", ["charts/learning_rate"]],
        "curricula": ["Multiline", ["charts/distractor_ramp", "charts/first_colour_share", "charts/clutter"]],
    }
    return categories


def config_table(values: dict) -> str:
    """The config as a markdown table (TensorBoard's Text tab), as CleanRL logs it."""
    rows = "\n".join(f"|{k}|{json.dumps(v)}|" for k, v in values.items())
    return "|param|value|\n|-|-|\n" + rows


def _hparam_value(value) -> tuple[str, object]:
    """(the google.protobuf.Value field, the value) of an hparam; other than bool, number or string -> JSON."""
    if isinstance(value, bool):  # before the numbers: a bool is an int
        return "bool_value", value
    if isinstance(value, (int, float)):
        return "number_value", float(value)
    if isinstance(value, str):
        return "string_value", value
    return "string_value", json.dumps(value)


_DATA_TYPES = {"bool_value": api_pb2.DATA_TYPE_BOOL, "number_value": api_pb2.DATA_TYPE_FLOAT64,
               "string_value": api_pb2.DATA_TYPE_STRING}


def _summary(tag: str, data: HParamsPluginData) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def add_hparams(writer: SummaryWriter, values: dict, first: Iterable[str] = (),
                metrics: Sequence[str] = HPARAM_METRICS) -> None:
    """Write the hparams plugin's experiment and session start into the run's own directory: ``values``
    by name (bools as bools, numbers, strings; anything else as JSON), those named in ``first`` marked
    ``differs`` so that the HParams dashboard lists and shows them first, and ``metrics`` (scalar tags
    of this run) as its metrics. `end_hparams` closes the session."""
    first = set(first)
    infos, start = [], SessionStartInfo(start_time_secs=time.time())
    for name, value in values.items():
        if value is None:
            continue
        field, value = _hparam_value(value)
        setattr(start.hparams[name], field, value)
        infos.append(api_pb2.HParamInfo(name=name, type=_DATA_TYPES[field], differs=name in first))
    experiment = api_pb2.Experiment(hparam_infos=infos, time_created_secs=start.start_time_secs,
                                    metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag))
                                                  for tag in metrics])
    version = metadata.PLUGIN_DATA_VERSION
    file_writer = writer._get_file_writer()
    file_writer.add_summary(_summary(metadata.EXPERIMENT_TAG, HParamsPluginData(experiment=experiment,
                                                                                 version=version)))
    file_writer.add_summary(_summary(metadata.SESSION_START_INFO_TAG,
                                     HParamsPluginData(session_start_info=start, version=version)))


def end_hparams(writer: SummaryWriter) -> None:
    """The hparams session's end, a success: the run finished (a stopped run's session goes on when resumed)."""
    end = SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    data = HParamsPluginData(session_end_info=end, version=metadata.PLUGIN_DATA_VERSION)
    writer._get_file_writer().add_summary(_summary(metadata.SESSION_END_INFO_TAG, data))


def add_gif(writer: SummaryWriter, tag: str, frames: Sequence[np.ndarray], step: int, fps: float = 20.0) -> None:
    """Write ``frames`` as an animated GIF image summary (Images tab)."""
    gif = encode_gif(frames, fps)
    height, width = frames[0].shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
