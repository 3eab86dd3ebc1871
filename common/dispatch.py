"""Two views of what torch runs, from the dispatcher: a guard that refuses host reads, and an op counter.

`no_host_reads()` makes every way a step could wait for the device, or send it host data, raise
`HostRead` on any device, the CPU included, so that a test on the CPU proves what a GPU would need:
  - a value read back: ``aten._local_scalar_dense`` (what ``item``, ``bool``, ``int``, ``float`` and
    ``if tensor`` call), ``Tensor.tolist``, ``cpu``, ``numpy``, ``__array__``, and copies to the CPU
    from another device;
  - ops whose output shape depends on values, which must read them first (``nonzero``,
    ``masked_select``, ``unique``, indexing with a bool mask, ``repeat_interleave`` by a tensor
    without ``output_size``) and ``multinomial``, whose single-draw path reads its input back;
  - host data sent to the device: ``torch.tensor``, ``torch.as_tensor`` (of anything but a tensor),
    ``Tensor.new_tensor`` and ``torch.from_numpy``.
It is a `TorchDispatchMode` (which sees every aten op below autograd) plus patched Python methods
for what never reaches the dispatcher on the CPU (``cpu()`` of a CPU tensor returns it as it is).

`count_ops(fn)` runs ``fn`` under an `OpCounter`: every aten op dispatched, and of them the ones that
launch a kernel on a GPU (`launches`), i.e. leaving out views, aliases and allocations.
"""

from __future__ import annotations

import collections
import contextlib
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


class HostRead(RuntimeError):
    """A step read a tensor's value on the host, or sent host data to the device."""


# Ops that read values back to the host, or must (their output's shape depends on the values).
SYNC_OPS = {aten._local_scalar_dense, aten.nonzero, aten.nonzero_static, aten.masked_select, aten.multinomial,
            aten._unique, aten._unique2, aten.unique_dim, aten.unique_consecutive, aten.equal}
# Ops that launch no kernel: allocations (the caching allocator hands out memory without one).
NO_KERNEL = {aten.empty, aten.empty_strided, aten.empty_like, aten.lift_fresh, aten.detach, aten.alias,
             aten._unsafe_view}


def _packet(func):
    return getattr(func, "overloadpacket", func)


def _bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices or ())


def _sync_reason(func, args, kwargs) -> str | None:
    """Why ``func`` reads values on the host, or None."""
    packet = _packet(func)
    if packet in SYNC_OPS:
        return str(packet)
    if packet in (aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_) and _bool_index(args):
        return f"{packet} with a bool mask (its shape needs the mask's count)"
    if packet is aten.repeat_interleave and isinstance(args[0] if args else None, torch.Tensor) \
            and kwargs.get("output_size") is None and len(args) < 3:
        return f"{packet} by a tensor without output_size"
    if packet in (aten._to_copy, aten.copy_):
        src = args[1] if packet is aten.copy_ else args[0]
        dst = args[0].device if packet is aten.copy_ else kwargs.get("device")
        if isinstance(src, torch.Tensor) and dst is not None and torch.device(dst).type == "cpu" \
                and src.device.type not in ("cpu", "meta"):
            return f"{packet} from {src.device} to the CPU"
    return None


class _GuardMode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        reason = _sync_reason(func, args, kwargs)
        if reason is not None:
            raise HostRead(f"host read in a step: {reason}")
        return func(*args, **kwargs)


def _refuse(name: str, original: Callable, allowed: Callable[..., bool] = lambda *a, **k: False) -> Callable:
    def guarded(*args, **kwargs):
        if not allowed(*args, **kwargs):
            raise HostRead(f"host read in a step: {name}")
        return original(*args, **kwargs)

    return guarded


def _of_a_tensor(data=None, *args, **kwargs) -> bool:
    return isinstance(data, torch.Tensor)


@contextlib.contextmanager
def no_host_reads():
    """Inside, any host read or host-to-device copy of Python data raises `HostRead` (module docstring)."""
    patches = {
        (torch.Tensor, "tolist"): _refuse("Tensor.tolist", torch.Tensor.tolist),
        (torch.Tensor, "cpu"): _refuse("Tensor.cpu", torch.Tensor.cpu),
        (torch.Tensor, "numpy"): _refuse("Tensor.numpy", torch.Tensor.numpy),
        (torch.Tensor, "__array__"): _refuse("Tensor.__array__ (numpy.asarray of a tensor)", torch.Tensor.__array__),
        (torch.Tensor, "new_tensor"): _refuse("Tensor.new_tensor of host data", torch.Tensor.new_tensor),
        (torch, "tensor"): _refuse("torch.tensor of host data", torch.tensor),
        (torch, "as_tensor"): _refuse("torch.as_tensor of host data", torch.as_tensor, _of_a_tensor),
        (torch, "from_numpy"): _refuse("torch.from_numpy", torch.from_numpy),
    }
    saved = {key: getattr(*key) for key in patches}
    try:
        for (owner, name), patched in patches.items():
            setattr(owner, name, patched)
        with _GuardMode():
            yield
    finally:
        for (owner, name), original in saved.items():
            setattr(owner, name, original)


class OpCounter(TorchDispatchMode):
    """Counts the aten ops run inside it: ``ops`` (all), ``launches`` (those that launch a kernel on a GPU:
    not views, aliases or allocations) and ``by_op`` (launches per op)."""

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.launches = 0
        self.by_op: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        packet = _packet(func)
        if not (packet in NO_KERNEL or getattr(func, "is_view", False)):
            self.launches += 1
            self.by_op[str(packet)] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], Any]) -> OpCounter:
    """Run ``fn()`` once under an `OpCounter` and return the counter."""
    with OpCounter() as counter:
        fn()
    return counter
