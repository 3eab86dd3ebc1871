"""A person forages (`watch.py --play`): arrow keys, posted as pygame events under the dummy video driver,
drive the forager; every episode is written as a record with the numbers compare's evaluation measures,
and a folder of records loads into compare's score table as a human reference row. Fast: tiny worlds."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pygame
import pytest
import torch

from compare.analysis import scores
from compare.analysis.common import Context
from compare.cli import CompareArgs
from compare.errors import CompareError
from compare.evaluate import EnvSpec, ReferencePolicy, make_env, run_episodes
from compare.references import human_references, load_play_records
from compare.rows import REFERENCE_METRICS, REFERENCES
from compare.run import make_plan
from envs import scripted_actions
from viewer import main
from viewer.app import WatchArgs, play_session
from viewer.play import Player, Tally, keys_action

pytestmark = pytest.mark.usefixtures("one_torch_thread")
UP, DOWN, LEFT, RIGHT = pygame.K_UP, pygame.K_DOWN, pygame.K_LEFT, pygame.K_RIGHT


@pytest.fixture(autouse=True)
def display():
    pygame.display.init()  # posted events need the (dummy) video system
    pygame.event.clear()
    yield
    pygame.display.quit()  # play() quits it too; nothing posted outlives a test


def press(*keys: int) -> None:
    for key in keys:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, unicode="", mod=0))


def release(*keys: int) -> None:
    for key in keys:
        pygame.event.post(pygame.event.Event(pygame.KEYUP, key=key, unicode="", mod=0))


def player_for(tmp_path, **changes) -> Player:
    args = dataclasses.replace(WatchArgs(play=True, play_records=str(tmp_path / "play"), fps=15.0), **changes)
    return Player(play_session(args), args.fps)


def test_arrow_keys_make_the_discrete_actions_and_continuous_velocities():
    assert keys_action(set(), True) is None  # no arrow: the world waits
    assert [keys_action(held, True) for held in ({UP}, {LEFT}, {RIGHT}, {UP, LEFT}, {UP, RIGHT})] == [0, 1, 2, 3, 4]
    assert keys_action({LEFT, RIGHT}, True) is None and keys_action({DOWN}, True) is None  # no backward action
    assert keys_action({UP, LEFT}, False) == (1.0, 1.0) and keys_action({DOWN, RIGHT}, False) == (-1.0, -1.0)
    assert keys_action({UP, DOWN}, False) is None


def test_posted_arrow_keys_drive_the_forager_and_each_episode_is_a_record(tmp_path):
    player = player_for(tmp_path, env="RedBerry-v1", max_episode_steps=6)
    session, step = player.session, 1.0 / 15.0
    pose = session.env.state.pose[0].clone()  # (x, y, heading)
    press(UP)
    assert player.frame(step)
    moved = session.env.state.pose[0]
    assert float(torch.dist(moved[:2], pose[:2])) == pytest.approx(session.config.forward_speed, rel=1e-4)
    assert float(moved[2]) == pytest.approx(float(pose[2]))  # forward only
    release(UP)
    press(LEFT)
    heading = float(session.env.state.pose[0, 2])
    assert player.frame(step)
    turned = float(session.env.state.pose[0, 2]) - heading
    assert math.remainder(turned, 2 * math.pi) == pytest.approx(session.config.turn_speed, rel=1e-4)
    release(LEFT)
    assert not player.frame(step) and session.tally.steps == 2  # no arrow held: the world waits
    press(UP, RIGHT)
    for _ in range(4):
        assert player.frame(step)
    assert session.episodes_done == 1 and len(session.written) == 1
    record = json.loads(open(session.written[0]).read())
    assert (record["env_id"], record["steps"], record["partial"], record["episode"]) == ("RedBerry-v1", 6, False, 1)
    assert record["world"]["max_episode_steps"] == 6 and record["goal_shown"] == "red" and record["view"] == "arena"
    assert record["target_eaten"] + record["distractor_eaten"] >= 0 and record["world_seed"] == 0
    # the next step starts episode 2; quitting after two of its steps saves them as a partial record
    for _ in range(3):
        player.frame(step)
    press(pygame.K_ESCAPE)
    player.frame(step)
    assert not player.running
    path = session.finish()
    partial = json.loads(open(path).read())
    assert (partial["partial"], partial["episode"], partial["steps"]) == (True, 2, 2)
    assert session.finish() is None  # saved once
    assert sorted(os.listdir(tmp_path / "play")) == sorted(os.path.basename(p) for p in session.written)


def test_a_record_measures_the_episode_as_compares_evaluation_does(tmp_path):
    """The scripted forager's moves, made through the play session, give the numbers run_episodes gives."""
    kwargs = {"difficulty": "easy", "max_episode_steps": 60}
    player = player_for(tmp_path, env="CuedBerry-v1", seed=5, **kwargs)
    session = player.session
    while session.episodes_done == 0:
        session.step(int(scripted_actions(session.env)[0]))
    record = json.loads(open(session.written[0]).read())
    spec = EnvSpec("easy", "CuedBerry-v1", tuple(sorted(kwargs.items())), False, 1, 5)
    env = make_env(spec, torch.device("cpu"))
    cell = run_episodes(env, spec, ReferencePolicy("scripted"))
    env.close()
    assert cell["target_eaten"] + cell["distractor_eaten"] > 0  # something to measure
    for name, value in (("return", "return_mean"), ("target_eaten", "target_eaten"),
                        ("distractor_eaten", "distractor_eaten"), ("steps_to_first_target", "steps_to_first_target"),
                        ("clean_steps_to_first_target", "clean_steps_to_first_target")):
        assert record[name] == pytest.approx(cell[value]), name
    assert float(record["found"]) == cell["found_share"] and float(record["distractor_first"]) == cell["distractor_first_share"]


def test_a_target_eaten_with_a_distractor_is_not_a_clean_find():
    """run_episodes' rule: a clean find is a target eaten before any distractor, the same step excluded."""
    same_step, after, clean = Tally(), Tally(), Tally()
    same_step.add(True, True)
    after.add(False, True)
    after.add(True, False)
    clean.add(False, False)
    clean.add(True, False)
    clean.add(False, True)
    assert same_step.measures(10) == {"steps_to_first_target": 1.0, "found": True, "clean_steps_to_first_target": 10.0,
                                      "clean_found": False, "distractor_first": True}
    assert after.measures(10)["clean_steps_to_first_target"] == 10.0 and after.measures(10)["distractor_first"]
    assert clean.measures(10) == {"steps_to_first_target": 2.0, "found": True, "clean_steps_to_first_target": 2.0,
                                  "clean_found": True, "distractor_first": False}


def test_watch_py_play_on_multiberry_drives_forager_0_among_scripted_ones(tmp_path, capsys):
    press(UP, LEFT)
    out = tmp_path / "records"
    assert main(["--play", "--env", "MultiBerry-v1", "--max-episode-steps", "5", "--frames", "24", "--fps", "240",
                 "--play-records", str(out), "--scale", "0.6"]) == 0
    names = sorted(os.listdir(out))
    records = [json.loads((out / name).read_text()) for name in names]
    whole = [r for r in records if not r["partial"]]
    assert whole and all(r["steps"] == 5 and r["forager"] == 0 and r["others"] == "scripted" for r in whole)
    assert f"to {out}" in capsys.readouterr().out


def _rows(task: str, condition: str) -> list[dict]:
    references = {f"{kind}_{m}": math.nan for kind in REFERENCES for m in REFERENCE_METRICS}
    references.update(random_return_mean=-1.0, scripted_return_mean=3.0, still_return_mean=0.0)
    return [{"task": task, "agent": "feedforward", "seed": seed, "condition": condition, "lesion": "none",
             "passes": 1, "passes_as_trained": True, "normalized_score": 0.5, "return_mean": 1.0, "precision": 0.6,
             "target_eaten": 2.0, "distractor_eaten": 1.0, "still_score": 0.25, **references} for seed in (1, 2)]


def test_play_records_load_into_compares_score_table_as_a_human_reference(tmp_path):
    player = player_for(tmp_path, env="RedBerry-v1", max_episode_steps=8)
    session = player.session
    for _ in range(2 * 8 + 1):  # two whole episodes (the step between them starts the second)
        session.step(3)  # forward-left: a circle
    session.step(0)  # starts the third episode
    session.step(0)  # its first step
    session.finish()  # and one partial, which compare leaves out
    other = player_for(tmp_path, env="RedBerry-v1", max_episode_steps=8, difficulty="hard").session
    for _ in range(8):
        other.step(0)  # a whole episode in other worlds: not the easy condition's
    records = load_play_records(str(tmp_path / "play"))
    assert len(records) == 4 and sum(r["partial"] for r in records) == 1
    plan, units = make_plan(CompareArgs(agents=("feedforward",), envs=("RedBerry-v1",), conditions=("easy", "hard"),
                                        episode_steps=8))
    trained = {u.key: {"unit": dataclasses.asdict(u)} for u in units}
    found = human_references(records, trained, plan)
    easy, hard = found[("RedBerry-v1", "easy")], found[("RedBerry-v1", "hard")]
    assert (easy.episodes, easy.partial, hard.episodes) == (2, 1, 1)
    mine = [r for r in records if not r["partial"] and r["world"]["difficulty"] == "easy"]
    assert easy.returns == pytest.approx(np.mean([r["return"] for r in mine]))
    assert easy.target_eaten == pytest.approx(np.mean([r["target_eaten"] for r in mine]))
    # other episode lengths are other worlds: no human row
    longer, _ = make_plan(CompareArgs(agents=("feedforward",), envs=("RedBerry-v1",), conditions=("easy",),
                                      episode_steps=9))
    assert human_references(records, trained, longer) == {}
    rows = _rows("RedBerry-v1", "easy") + _rows("RedBerry-v1", "hard")
    ctx = Context(plan, rows, trained, tuple(records))
    data = scores.summarise(ctx)
    person, score = data.human[("RedBerry-v1", "easy")]
    assert score == pytest.approx((easy.returns + 1.0) / 4.0)  # against random -1 and scripted 3
    text = "\n".join(scores.section(data, ctx))
    row = next(line for line in text.splitlines() if "human (a person, 2 episodes, arena view)" in line)
    assert row.startswith("| `easy` |") and "(reference: a person, not an agent)" in row
    assert "human (a person, 1 episode, arena view)" in text  # the hard condition's
    assert "human" not in "\n".join(scores.section(scores.summarise(Context(plan, rows, trained)), ctx))


@pytest.mark.parametrize("content, words", [
    ("{not json", "damaged JSON"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"format": "something-else", "version": 1}', "format 'something-else'"),
    ('{"format": "redberry-play-episode", "version": 9}', "version 9"),
    (None, "no 'return'"),
    ("steps", "steps is '6', not a int"),
    ("found", "found is 1, not a bool"),
    ("count", "7 steps of an episode of 6"),
])
def test_a_damaged_or_foreign_play_record_is_one_line_naming_the_file(tmp_path, content, words):
    player = player_for(tmp_path, env="RedBerry-v1", max_episode_steps=6)
    for _ in range(6):
        player.session.step(0)
    path = player.session.written[0]
    record = json.loads(open(path).read())
    if content is None:
        del record["return"]
    elif content == "steps":
        record["steps"] = "6"
    elif content == "found":
        record["found"] = 1
    elif content == "count":
        record["steps"] = 7
    text = content if content and content.startswith(("{", "[")) else json.dumps(record)
    with open(path, "w") as f:
        f.write(text)
    with pytest.raises(CompareError) as error:
        load_play_records(str(tmp_path / "play"))
    message = str(error.value)
    assert path in message and words in message and "\n" not in message
