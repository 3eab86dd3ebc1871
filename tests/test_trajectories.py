"""The worlds' trajectories are pinned bit for bit: a refactor of the env layers must not change one.

Each case steps a vector env from a fixed seed with fixed random actions, through autoresets, partial
resets and a target change, and hashes every observation, reward, flag and info tensor it returned.
The hashes were recorded before the vector envs were merged onto one base (issue 21). A change to
the worlds' rules that is meant changes them: then record the new ones, and say why in the commit.
"""

from __future__ import annotations

import hashlib

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the ids)

CASES = {
    "RedBerry-v0": (dict(num_envs=6, max_episode_steps=40), "discrete"),
    "RedBerry-v0/hard-continuous": (dict(num_envs=5, difficulty="hard", action_type="continuous",
                                         max_episode_steps=35), "continuous"),
    "CuedBerry-v0": (dict(num_envs=6, difficulty="medium", max_episode_steps=45), "discrete"),
    "ReversalBerry-v0": (dict(num_envs=6, reversal_rate=0.05, max_episode_steps=50), "discrete"),
    "MultiBerry-v0": (dict(num_envs=3, num_agents=3, starvation_steps=15, max_episode_steps=40), "discrete"),
    "MultiBerry-v0/own-cued": (dict(num_envs=2, num_agents=2, task="cued", target_mode="own",
                                    cooperative=True, max_episode_steps=30), "discrete"),
}
# v1 (issue 37: berries outside the foragers' reach and apart; ReversalBerry's target share) pins the same cases.
CASES.update({name.replace("-v0", "-v1"): case for name, case in CASES.items()})

EXPECTED = {
    'CuedBerry-v0': '96ea3e44ec2e60918bf592219b9536c984416558b8135b9a7b59090bcafb503e',
    'MultiBerry-v0': '5b45d47d2cf79445caf7708834eced47563078cc65a790f67a4877d51557eb7b',
    'MultiBerry-v0/own-cued': '3d01d62744b39dfdc749e3efc3fad0560da50ea1ff9f6f587be10a711363dc02',
    'RedBerry-v0': '8b35dd7f64cda6b08c49348cc92423bf963cfeef12892988fa10b190335af0cd',
    'RedBerry-v0/hard-continuous': 'e20ffb268245c764c89c94d7efb89a2d9eef7ebd118104af9e5a2a0b37a636d0',
    'ReversalBerry-v0': '0fe008b8aadce21f494567c4bf18f9fbcbf5b9e1c5f6cc96aa5a97e1f0940409',
    'CuedBerry-v1': '2b5e25c650001de320498a455d323c240c3e546463f63ebdfdca74bf4fba5365',
    'MultiBerry-v1': 'f417a886069bffecf2a198b4b464051717ccfcfeb76f4edbc1eb93d5c2de2551',
    'MultiBerry-v1/own-cued': 'c70db583d6853a50cb088b508537033737063b1619f99ffe1aed58c0ecbb318d',
    'RedBerry-v1': '1ebc1be7e5df8e74c1ab93d142e5d74d03ec99d1fcb4b09d3083f3482aa01a13',
    'RedBerry-v1/hard-continuous': '02ed5bdc8ca390dce662b3376b2b1801237331b763c3dd312a49db8fe717ae65',
    'ReversalBerry-v1': '21f53aff4f0a8d60fc5623139d8f8b3f53519987c9f0b4e3012376ccab017fff',
}


def _feed(digest, value) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            digest.update(key.encode())
            _feed(digest, value[key])
    elif isinstance(value, torch.Tensor):
        digest.update(str(value.dtype).encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    else:
        digest.update(repr(value).encode())


def trajectory_hash(case: str, steps: int = 120) -> str:
    kwargs, kind = CASES[case]
    env = gym.make_vec(case.split("/")[0], device="cpu", **kwargs)
    n = env.num_envs
    generator = torch.Generator().manual_seed(11)
    digest = hashlib.sha256()
    _feed(digest, env.reset(seed=3))
    for t in range(steps):
        if kind == "discrete":
            action = torch.randint(0, 5, (n,), generator=generator)
        else:
            action = torch.rand(n, 2, generator=generator) * 2 - 1
        _feed(digest, env.step(action))
        if t == 30:  # a partial reset of every other world
            _feed(digest, env.reset(options={"reset_mask": torch.arange(n) % 2 == 0}))
        if t == 60 and hasattr(env, "set_target") and "Reversal" not in case:
            _feed(digest, env.set_target(torch.arange(n) % 6, swap_berries=True))
        if t == 61 and hasattr(env, "target_mask"):
            _feed(digest, {"target": env.target_mask(), "distractor": env.target_mask(distractors=True)})
    state = env.get_state()
    _feed(digest, {k: v for k, v in state.items() if k != "seeded"})
    env.close()
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectories_are_bit_identical_to_the_recorded_ones(case, one_torch_thread):
    assert trajectory_hash(case) == EXPECTED[case], f"{case}: the worlds' trajectory changed"


if __name__ == "__main__":  # python tests/test_trajectories.py: print the hashes to record
    torch.set_num_threads(1)
    for name in sorted(CASES):
        print(f"    {name!r}: {trajectory_hash(name)!r},")
