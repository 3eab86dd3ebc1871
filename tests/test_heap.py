"""common.heap: glibc keeps freed memory, so a loop that frees and reallocates large tensors stops
faulting fresh pages in. Measured in fresh processes, since the setting is process-wide."""

import json
import os
import subprocess
import sys

import pytest

from common.heap import ENV_VARS, keep_freed_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small conv net's forward and backward at batch 512, the pattern of a replay: it frees and
# reallocates the same activations (up to 9 MB each) every round.
PROBE = """
import json, resource, sys, torch
from common.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, 2, 1),
                          torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, 1, 1), torch.nn.ReLU())
image = torch.rand(512, 3, 24, 24)
def work():
    net(image).square().mean().backward()
work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    work()
print(json.dumps({"kept": kept, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10}))
"""


def _probe(mode: str, code: str = PROBE, **env) -> dict:
    environ = {key: value for key, value in os.environ.items() if key not in ENV_VARS}
    out = subprocess.run([sys.executable, "-c", code, mode], cwd=ROOT, env={**environ, **env, "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _glibc() -> bool:
    import platform
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="the heap settings are glibc's")
def test_kept_heap_stops_the_page_faults_of_reallocated_tensors():
    default, kept = _probe("default"), _probe("keep")
    assert kept["kept"] is True
    # by default thousands of the activations' pages are faulted in again each round (4,100-6,500 here)
    assert default["faults"] > 2000, default
    assert kept["faults"] < default["faults"] / 5, (default, kept)


@pytest.mark.skipif(not _glibc(), reason="the heap settings are glibc's")
def test_users_malloc_variables_rule():
    only_the_call = "import json; from common.heap import keep_freed_memory; print(json.dumps({'kept': keep_freed_memory()}))"
    assert _probe("keep", only_the_call)["kept"] is True
    probe = _probe("keep", only_the_call, MALLOC_TRIM_THRESHOLD_="131072")
    assert probe["kept"] is False


def test_set_on_glibc_alone_and_never_over_the_users_variables():
    assert keep_freed_memory() is (_glibc() and not any(name in os.environ for name in ENV_VARS))
