"""The one device resolver: a user's device choice -> a torch device this machine can use."""

from __future__ import annotations

import torch

ALLOWED = "'auto', 'cpu' or 'cuda[:index]'"


class DeviceError(ValueError):
    """A device choice this machine cannot use. ``flag`` names the setting it came from (``device`` for a
    keyword, ``--device`` for a flag), ``given`` what was asked, ``reason`` why not, ``allowed`` what is."""

    def __init__(self, flag: str, given, reason: str, allowed: str = ALLOWED):
        self.flag, self.given, self.reason, self.allowed = flag, given, reason, allowed
        super().__init__(f"{flag}: got {given!r}, {reason}; allowed: {allowed}")


def check_choice(choice: str | torch.device, flag: str = "device") -> str | torch.device:
    """``choice`` if it names a device RedBerry runs on ('auto', 'cpu', 'cuda[:index]'), whether or not this
    machine has it (a plan may be made here for a GPU machine); else DeviceError naming ``flag``."""
    if isinstance(choice, str) and choice == "auto":
        return choice
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError):
        raise DeviceError(flag, choice, "which is not a torch device") from None
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(flag, choice, "which RedBerry does not run on")
    return choice


def resolve_device(choice: str | torch.device, flag: str = "device") -> torch.device:
    """'auto' picks CUDA when present; a choice this machine cannot use raises DeviceError naming ``flag``."""
    if check_choice(choice, flag) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(flag, choice, "but CUDA is not available here", "'cpu' or 'auto'")
    return device
