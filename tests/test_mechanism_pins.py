"""Pins of every mechanism's numbers, recorded before its code moved (issue 38).

For each case (each preset, feedback with T > 1, the what/where gates, the plastic layer with the "td" and
the "learned" modulator, the discount of the TD error, and each lesion of each mechanism) a short rollout
with episode starts (all rows at t = 0, one row again mid-way) is run from weights set by parameter name,
so the pins depend on the state dict's names and shapes, not on the order in which modules draw their
initial weights. Pinned: every output of every step (logits or the Normal's mean and scale, V(t), the next
state, the internals), the gradients of a loss of those outputs through the whole rollout (BPTT), and the
state dict's names and shapes. A config saved by the code of the time (with the agent's old ``gamma``
field) loads and gives the same numbers.

Hashes are sha256 of the tensors' bytes: bit-exact on the platform that recorded them (`PLATFORM`).
Elsewhere (another CPU's kernels, another torch) sums may round differently, so there each pin's
projection on a fixed random direction and its norm are held to 1e-3 of the norm instead.

``python tests/test_mechanism_pins.py`` prints the pins of the code as it is now.
"""

from __future__ import annotations

import hashlib
import json
import zlib

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import agent_from_config, make_agent

pytestmark = pytest.mark.usefixtures("one_thread_everywhere")

N, STEPS, SIZE, PALETTE = 3, 6, 24, 6
RESTART = (3, 1)  # (step, row): a second episode start in the middle of the rollout

# name: (preset, overrides, continuous, lesion)
CASES = {
    **{preset: (preset, {}, False, None) for preset in
       ("feedforward", "recurrent", "early", "feedback", "whatwhere", "dopamine", "full")},
    "feedback_T3": ("feedback", {"passes": 3}, False, None),
    "feedback_goal_only": ("feedback", {"top_down_inputs": "goal"}, False, None),
    "feedback_no_template": ("feedback", {"goal_template": 0.0}, False, None),
    "dopamine_learned": ("dopamine", {"modulator": "learned"}, False, None),
    "dopamine_gamma_0.9": ("dopamine", {"gamma": 0.9}, False, None),
    "full_T2": ("full", {"passes": 2}, False, None),
    "full_T2_learned": ("full", {"passes": 2, "modulator": "learned"}, False, None),
    "feedforward_box": ("feedforward", {}, True, None),
    "full_box": ("full", {}, True, None),
    **{f"full_T2/{lesion}": ("full", {"passes": 2}, False, lesion) for lesion in
       ("feedback", "plasticity", "what", "where", "feedback_goal", "feedback_core", "feedback_top")},
    "feedback_T3/feedback": ("feedback", {"passes": 3}, False, "feedback"),
    "feedback_T3/feedback_top": ("feedback", {"passes": 3}, False, "feedback_top"),
    "dopamine_learned/plasticity": ("dopamine", {"modulator": "learned"}, False, "plasticity"),
    "whatwhere/what": ("whatwhere", {}, False, "what"),
    "recurrent/feedback": ("recurrent", {}, False, "feedback"),  # a lesion of a mechanism the agent lacks
}

# Agent configs exactly as the code of 2026-12 saved them (dataclasses.asdict, with the agent's own gamma).
OLD_CONFIGS = {
    "dopamine": '{"channels": [16, 32, 32], "strides": [2, 2, 1], "grid": 6, "embed": 64, "hidden": 60, "core": "gru", "goal_pathway": "late", "passes": 1, "gain_layers": 2, "top_down": 32, "gain_strength": 1.0, "goal_template": 0.5, "top_down_inputs": "goal+core+top", "spatial_strength": 0.9, "whatwhere": false, "what_channels": 32, "keypoints": 16, "plastic": true, "plastic_size": 32, "modulator": "td", "gamma": 0.99, "hebb_clip": 1.0, "reward_input": true, "action_input": true}',
    "dopamine_gamma_0.9": '{"channels": [16, 32, 32], "strides": [2, 2, 1], "grid": 6, "embed": 64, "hidden": 60, "core": "gru", "goal_pathway": "late", "passes": 1, "gain_layers": 2, "top_down": 32, "gain_strength": 1.0, "goal_template": 0.5, "top_down_inputs": "goal+core+top", "spatial_strength": 0.9, "whatwhere": false, "what_channels": 32, "keypoints": 16, "plastic": true, "plastic_size": 32, "modulator": "td", "gamma": 0.9, "hebb_clip": 1.0, "reward_input": true, "action_input": true}',
    "full_T2_learned": '{"channels": [16, 32, 32], "strides": [2, 2, 1], "grid": 6, "embed": 112, "hidden": 108, "core": "gru", "goal_pathway": "topdown", "passes": 2, "gain_layers": 2, "top_down": 32, "gain_strength": 1.0, "goal_template": 0.5, "top_down_inputs": "goal+core+top", "spatial_strength": 0.9, "whatwhere": true, "what_channels": 32, "keypoints": 16, "plastic": true, "plastic_size": 32, "modulator": "learned", "gamma": 0.99, "hebb_clip": 1.0, "reward_input": true, "action_input": true}',
    "feedback_T3": '{"channels": [16, 32, 32], "strides": [2, 2, 1], "grid": 6, "embed": 60, "hidden": 60, "core": "gru", "goal_pathway": "topdown", "passes": 3, "gain_layers": 2, "top_down": 32, "gain_strength": 1.0, "goal_template": 0.5, "top_down_inputs": "goal+core+top", "spatial_strength": 0.9, "whatwhere": false, "what_channels": 32, "keypoints": 16, "plastic": false, "plastic_size": 32, "modulator": "td", "gamma": 0.99, "hebb_clip": 1.0, "reward_input": true, "action_input": true}',
}

PLATFORM = "torch 2.13.0+cpu, AVX512"
# name: (state dict names and shapes, outputs, gradients): sha256; then the projections (outputs, gradients)
PINS: dict[str, tuple[str, str, str, tuple[float, float], tuple[float, float]]] = {
    'feedforward': ('55c891ab351b2175d52b74f9472e2ef1c918ef6c5494d418614d06dcf8d282c4', '0e524f504253a3c31b339eac0487cd8457937903da906cb6bffe138a0508a280', '6d731fa760ecbc37123a912e8d7d67feba7927cc2242b624b611005d8a2ec962', (12.41773615274593, 20.703310257416515), (77.63872758088426, 171.9593510210735)),
    'recurrent': ('c28a078017309d0e244fb9e4eb7885f897165eb5203dd9476508b3808ea672ec', 'a899c45e9a7eba451d2e6b294cc92952d1e7631c1041e833d6bfd4a499f7203f', '99c78ca364f45bc6f9a5cf8205b9bff8235c2901ce3b308b8721221c2a3f1d9a', (-8.578763318848178, 21.976511828357083), (-50.65768229977485, 195.0643475436544)),
    'early': ('a9bf10f4b01f220c79ca7e69a59398b472a242e000193a540daab70f6e913869', 'acebfb5209a8f782a3b7b3e0505b02e3399623001c8bf4f224538d64a0411a59', '08d5e91e1e507c5546454486bbb323385e3a272ee295b415a462d7cdfb6066bd', (-6.084893278599182, 21.668926308237943), (65.17028758483875, 168.90867180883396)),
    'feedback': ('61b144e598c2200d393ca8909b3c0d9175b136ea3318a0f2fa71fbcb97a82d41', 'a4099c7a4e5fa0d6394988837449602e8336d1909f7932396ab214e5c0063d44', '19b644f399e5f4f0004931567a770b4faf4ced92186550e9e3731b8e59f2646d', (-0.07548331689230992, 68.48198729741722), (1539.6874179882307, 823.2328863151521)),
    'whatwhere': ('14463d7b7fb424816dcfeda48bc9dab781c359ab86b3fba27b016e4ed457de5f', '15f50d587d8a176ac62a7a64580a70286274648381c25caaa14a8d5af032b846', 'f2c7ddcd8b59719a0a09304253a67d1f900ec7ffe7176318a0e5ed35e7238484', (-40.61563793150123, 27.256282053849947), (105.14124527777048, 219.42031384310636)),
    'dopamine': ('76cce3e512d0cafab806a5a72b0b4e02664cf6e8888054a543c4666950a98579', '1883ea92c7e1247391a0d89e0e67daa20778fb02da0ca2cf9b9a84f8bcb79e1d', '559fd90e01efefe74919fb885f65dfe92da2f2a873e15f357a4a5afd1f3e5432', (15.691309177150599, 65.99733524664886), (-8401.096398307302, 7965.062506911843)),
    'full': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '0a684115246d19714e67a151b9cb7782c8aadb83bbfaeac67821279e49aba4e7', 'a10e317723f849a0bd57ee9aa4fb90f46742e2866257f0216f0efa12e20a657c', (-9.491005423608033, 105.78153122786682), (-24616.490407351936, 11429.575261474194)),
    'feedback_T3': ('61b144e598c2200d393ca8909b3c0d9175b136ea3318a0f2fa71fbcb97a82d41', '41d7b1b161f6d40fe5f2b1b758b7638e221d2ac91bc7f056fd4a7e50a3bfa852', '977175364629dbd00d07b0b586c06f0f03e5d355867e85f6e368ec777e242192', (1.6123973530999862, 68.51031720574973), (1519.7222317289923, 795.5794011013617)),
    'feedback_goal_only': ('66669a6e7ecbeb399d1a8736cb713c734d76a6e8ef1990008f59e508434fd233', '960753cc6a70dd72ed9128168f47509cda7abc9de230fe58416446a35c8914c3', '5ecf1e2b203e2d13a6b8870a6baf0884898dc17a3e8b99fab5d695680dcf3cd7', (-11.520503133265017, 67.92509839903485), (1373.5742842623742, 789.6838356363684)),
    'feedback_no_template': ('16d1856893916a20326a960fbc8dc57cfef59da8704393bad1baa1e523c75c3c', 'ca9df8c3904ef19ac33b07d8dae6b1fceddae7441329a55470af59fae6416499', '5d3ea9ce478385a6937a1f51dc654200428d2103847e01ed5671d2134bb66a84', (-5.117032993154112, 67.66763266885673), (1290.1198053956828, 744.0967393387208)),
    'dopamine_learned': ('2c6ad8fa443799a4b943f6b00cb8ab2660bd85fe11a6e00fad9a17b77b22f96e', 'd36592d57607c8c46f2d5339782f2df1a5fedd75cc8df96a9007ad4292107790', 'c91a3c187ffd7fb0a4e8c057fdbfc7bbc0ca06c39c8de98cc904671db708e83d', (56.769376716552145, 82.37347842020827), (-6687.645206025691, 11837.145129781162)),
    'dopamine_gamma_0.9': ('76cce3e512d0cafab806a5a72b0b4e02664cf6e8888054a543c4666950a98579', 'a01810a75196a635dbae21b9d57a234f1295d96d8745f45e1dd94afbc239cf1d', '2a1446edbf7f45b82977df15c8f3f94387a36e82eeb3eb20f8ac4778e06dda81', (18.623046948805317, 67.68074083689474), (-8514.6613396447, 8473.828301040581)),
    'full_T2': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '17bd56da1c53cb37d291678ad80706c023553d46ae6223fa292802bcbbe76d7c', '5a648cae3c835a919520893e329aa02dad16aa1ec3aa12b9fd7783727f9725bc', (-10.895928243136373, 105.85952865971696), (-10962.916882462287, 6507.627711651279)),
    'full_T2_learned': ('6f1814f0b8bc42006e87f2e6e0fe1d896fe2608adb574f04d54bc7c84931dc85', '9bca54d06537018a793ef751b468b3157fde72401e8281b83b1b264e3d06936b', '99307ab9bff83ba1a008a1b554df4a2f3fc3784261dd28f3fa09c5d5e8ec74fb', (10.174865486175669, 100.33536791488291), (1534.3741422131116, 26366.088914581236)),
    'feedforward_box': ('ec3b1c71a0dbab153a9d580c0922d6ea95bc2aebb10a0ba93598c2c66c5371b1', '634c24d671e71927607b15b7e57a7f94e63a955772e33229f34b04b55c2c08a3', 'af798c51bc5572090aaccdf51f981041cceff2515021176a5ec2b0d9052926d8', (-17.95978965494904, 12.204505267004803), (-833.3134475331047, 916.2372238109851)),
    'full_box': ('972469303e99845b1c7986ffd85ac0a8fb68ae938d7441768fd8369fa99fbb77', 'a7b1539994128612904e255768f30e59e518fb044e1539f34be4cc2765350786', 'be1a3dc37575f2987a865da97a0b2c4a6f5b8191a18087c8e621603fee0517ed', (-68.19877494347998, 110.55175000261684), (-8664.164609907817, 5991.632505128924)),
    'full_T2/feedback': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '27ced8d95e5f4f20ec6eddda97fe7f9d80ee984fce1bbcfc67c548b7fc99e57c', 'f5c0103626e3307270840353acd71cd0438818c0ba1d025d24f0da0dba8a7001', (23.548077643208252, 104.5321382622347), (3208.354123058264, 5630.566159828315)),
    'full_T2/plasticity': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '61ebb50474f61fbee6b8d6eff29262fba7139c2ec9f2d113be8cc036fcc2de44', '4b3cdaa9a19f4bdab90d48ea8fee25ac06847930bcd907107a93b1a7e737e361', (4.154589602023728, 76.46005248090628), (-398.9404409759996, 1173.742590280918)),
    'full_T2/what': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', 'c906c42ba2f62f4de5f615189099d64de2afa14e11c53e471c4726b5634f6401', 'f15c0c7c8cfb3f418a9b82a8cafab273c29a3854e344fccf68128d900c4470f4', (-3.282946102099096, 105.8020510116732), (-2732.965799414087, 4059.574758174398)),
    'full_T2/where': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', 'ac6fd846d1147be076a4746ff3db31a7105532a74daf6aa0f9248eb1f161992f', '9504ec8f9127a6042c0366ef1b19f46559d5c25382021f32edb2a7c48171d8ed', (-16.965179473360408, 107.17300409222763), (-276.8190762705217, 7302.797040928247)),
    'full_T2/feedback_goal': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', 'dccc1699d540319eff2a3c75180e0172fa977394cfeee40d925a1a729638f962', '2bba685e73541c41ec548039bacff7c235a78890430f997e13a0526ecf163e06', (-5.918698520952919, 105.59445155609286), (-8041.903215410461, 5805.377993535668)),
    'full_T2/feedback_core': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '099a7812e205aabc7bfac0d03c1406e9aa23ff64d12666ba83454459eea101f9', 'f0a5f3527ba5edb6ef88227e1cbbbab0887293d92b3122c12aff6f0068945ce2', (-8.81667990469894, 105.80378200010058), (-6303.387624021359, 5347.700932797991)),
    'full_T2/feedback_top': ('f64957dfbe217e0e9e82187f4e9a26c34bc6e071c5d15430bb4fce339c385361', '5c92441471603a14b4066a16e3fbbe06d9a33336fbf46dd710dc14f65e68daa1', '130664b9e031f3a26de8ac367ddc5b7b401faf5b993d871a18509781303c8525', (-4.303034552901302, 106.22237024997848), (-39119.71349798693, 18210.08733283689)),
    'feedback_T3/feedback': ('61b144e598c2200d393ca8909b3c0d9175b136ea3318a0f2fa71fbcb97a82d41', '7d488a8d88a3543a8fd775b87ba5c1aa7577c97e0472cc0c77dfa8d2b744fc64', '46fb8939c673314d2ad3c891c2558de5eecca9896947a547a5f482cb483487fc', (14.117225783343514, 65.50063150088415), (1409.442525678022, 756.1143500302893)),
    'feedback_T3/feedback_top': ('61b144e598c2200d393ca8909b3c0d9175b136ea3318a0f2fa71fbcb97a82d41', '0dce515312fc8e931bb0ff9822e8b80ce81a1bb3cfcb530dd7108a4c3a225ac8', 'f88a0d6b33052ce5a628d716b8c7922ca9ece08123d9032dedf71a1d7d975e33', (-1.82177118445518, 67.87099987428111), (1595.791016118746, 785.8681870185727)),
    'dopamine_learned/plasticity': ('2c6ad8fa443799a4b943f6b00cb8ab2660bd85fe11a6e00fad9a17b77b22f96e', 'b7716c221055fddec26a739e9e2dc07ee1f0c3b97e69daf492245c904859b5bd', '2338f0a2638a6bacb18c581480375309c05c4fd1f62f952a4e5c8d21001a35b8', (17.85068687722322, 34.130418307425685), (-2174.9986803506204, 1988.710684527761)),
    'whatwhere/what': ('14463d7b7fb424816dcfeda48bc9dab781c359ab86b3fba27b016e4ed457de5f', '3a4ce5f538d4a2f65bbcab36ab28589bd37a0da8faa1d950d85682f54362f062', 'f2875d0b1629eae138b64e6b83604592a6ae4e8120b600fe74ddad586d347e50', (-32.10515997323937, 26.31084078729215), (66.06903417109805, 204.765088749311)),
    'recurrent/feedback': ('c28a078017309d0e244fb9e4eb7885f897165eb5203dd9476508b3808ea672ec', 'a899c45e9a7eba451d2e6b294cc92952d1e7631c1041e833d6bfd4a499f7203f', '99c78ca364f45bc6f9a5cf8205b9bff8235c2901ce3b308b8721221c2a3f1d9a', (-8.578763318848178, 21.976511828357083), (-50.65768229977485, 195.0643475436544)),
}


def platform() -> str:
    return f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}"


def spaces(continuous: bool):
    observation_space = gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8),
        "goal": gym.spaces.Box(0.0, 1.0, (PALETTE,), np.float32),
    })
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32) if continuous else gym.spaces.Discrete(5)
    return observation_space, action_space


def weights_by_name(agent: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every state-dict entry drawn from a stream keyed by its name, scaled by its fan-in."""
    weights = {}
    for name, value in agent.state_dict().items():
        generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        fan_in = int(np.prod(value.shape[1:])) if value.dim() > 1 else 4
        weights[name] = torch.randn(value.shape, generator=generator) / fan_in ** 0.5
    return weights


def inputs(continuous: bool):
    """The rollout's observations, episode starts, previous rewards and previous actions."""
    generator = torch.Generator().manual_seed(7)
    steps = []
    for t in range(STEPS):
        image = torch.randint(0, 256, (N, SIZE, SIZE, 3), dtype=torch.uint8, generator=generator)
        goal = torch.eye(PALETTE)[torch.randint(0, PALETTE, (N,), generator=generator)]
        start = torch.full((N,), t == 0)
        if t == RESTART[0]:
            start[RESTART[1]] = True
        reward = torch.randn(N, generator=generator) * (~start)
        if continuous:
            action = torch.rand(N, 2, generator=generator) * 2 - 1
        else:
            action = torch.randint(0, 5, (N,), generator=generator)
        steps.append(({"image": image, "goal": goal}, start, reward, action))
    return steps


def digest(named: list[tuple[str, torch.Tensor]]) -> tuple[str, tuple[float, float]]:
    """sha256 of the names and bytes, and (the projection on a fixed random direction, the norm)."""
    sha = hashlib.sha256()
    flat = []
    for name, tensor in named:
        data = tensor.detach().contiguous().cpu()
        sha.update(f"{name}:{tuple(data.shape)}:{data.dtype};".encode())
        sha.update(data.numpy().tobytes())
        flat.append(data.double().flatten())
    vector = torch.cat(flat)
    direction = torch.randn(vector.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return sha.hexdigest(), (float(direction @ vector), float(vector.norm()))


def rollout(agent, continuous: bool):
    """Every output of every step, and the gradients of a loss of them through the whole rollout."""
    state = agent.initial_state(N)
    outputs, loss = [], 0.0
    for t, (obs, start, reward, action) in enumerate(inputs(continuous)):
        out = agent(obs, state, start, reward, action)
        dist = out.dist.base_dist if continuous else out.dist
        params = [("loc", dist.loc), ("scale", dist.scale)] if continuous else [("logits", dist.logits)]
        outputs += [(f"{t}/{k}", v) for k, v in params] + [(f"{t}/value", out.value)]
        outputs += [(f"{t}/state/{k}", v) for k, v in out.state.items()]
        outputs += [(f"{t}/internals/{k}", v) for k, v in sorted(out.internals.items())]
        loss = loss + (out.dist.log_prob(action) * (reward + 1.0)).sum() + (out.value ** 2).sum() \
            + 0.1 * out.dist.entropy().sum()
        state = out.state
    loss = loss + sum(v.square().sum() for v in state.values())  # through the carried state too
    agent.zero_grad(set_to_none=True)
    loss.backward()
    grads = [(name, p.grad if p.grad is not None else torch.empty(0))  # empty: no gradient reached it
             for name, p in agent.named_parameters()]
    return outputs, grads


def build(name: str, config_json: str | None = None):
    preset, overrides, continuous, lesion = CASES[name]
    torch.manual_seed(0)
    if config_json is None:
        agent = make_agent(preset, *spaces(continuous), **overrides)
    else:
        agent = agent_from_config(json.loads(config_json), *spaces(continuous))
    layout = [(k, torch.tensor(v.shape)) for k, v in agent.state_dict().items()]
    agent.load_state_dict(weights_by_name(agent))
    agent.set_lesion(lesion)
    return agent, layout, continuous


def measure(name: str, config_json: str | None = None):
    agent, layout, continuous = build(name, config_json)
    outputs, grads = rollout(agent, continuous)
    (layout_sha, _), (out_sha, out_proj), (grad_sha, grad_proj) = digest(layout), digest(outputs), digest(grads)
    return layout_sha, out_sha, grad_sha, out_proj, grad_proj


def check(name: str, measured) -> None:
    layout_sha, out_sha, grad_sha, out_proj, grad_proj = measured
    pinned = PINS[name]
    assert layout_sha == pinned[0], f"{name}: the state dict's names or shapes changed (old checkpoints would not load)"
    for what, proj, pin in (("outputs", out_proj, pinned[3]), ("gradients", grad_proj, pinned[4])):
        assert abs(proj[1] - pin[1]) <= 1e-3 * pin[1] and abs(proj[0] - pin[0]) <= 1e-3 * pin[1], \
            f"{name}: the {what} moved: (projection, norm) {proj}, pinned {pin}"
    if platform() == PLATFORM:  # bit-exact where the pins were recorded
        assert out_sha == pinned[1], f"{name}: the outputs changed in their last bits"
        assert grad_sha == pinned[2], f"{name}: the gradients changed in their last bits"


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_and_gradients_are_as_pinned(name):
    check(name, measure(name))


@pytest.mark.parametrize("name", list(OLD_CONFIGS))
def test_a_checkpoint_saved_before_loads_and_gives_the_pinned_numbers(name):
    # The old config (with the agent's own gamma) and a state dict with the names and shapes of then.
    check(name, measure(name, OLD_CONFIGS[name]))


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f'PLATFORM = "{platform()}"')
    print("PINS = {")
    for case in CASES:
        print(f"    {case!r}: {measure(case)!r},")
    print("}")
