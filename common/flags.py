"""Command-line flags through tyro, with its parse errors as one line; `first_line` for any other error.

tyro reports a flag it cannot parse in a multi-line box on stderr and exits 2. Every RedBerry CLI
(train, watch, compare, bench) parses through `parse_flags` instead, so a bad flag raises the tool's
own error with one line that names the flag, what was given and what is allowed, and the tool
prints it and exits 2 as for every other bad input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import re
import sys
import threading
from typing import Any, Callable, Optional, Sequence, TypeVar

import tyro

T = TypeVar("T")


def parse_flags(cli: Callable[..., T], argv: Optional[Sequence[str]], prog: str,
                error: type[Exception] = ValueError, **options) -> T:
    """``tyro.cli(cli, args=argv)``, with tyro's boxed parse error turned into one line: `error`
    is raised with the message (which names the flag and the value given) and the flag's usage."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return tyro.cli(cli, args=argv, prog=prog, **options)
    except SystemExit as exc:
        if not exc.code:  # --help
            raise
        message = one_line(stderr.getvalue())
        argv = sys.argv[1:] if argv is None else list(argv)
        raise error(_switch_given_a_value(cli, message, argv) or message) from None


def _switch_given_a_value(cli: Any, message: str, argv: list[str]) -> Optional[str]:
    """For `--switch=value` (a bool flag takes none), tyro says only "Unrecognized options: value": name the
    flag instead. None when that is not what happened."""
    prefix = "Unrecognized options:"
    if not message.startswith(prefix) or not dataclasses.is_dataclass(cli):
        return None
    unrecognized = {item.strip() for item in message[len(prefix):].split(";")[0].split(",")}
    switches = {f.name.replace("_", "-") for f in dataclasses.fields(cli) if f.type in (bool, "bool")}
    for token in argv:
        flag, equals, value = token.partition("=")
        name = flag[2:].removeprefix("no-")
        if flag.startswith("--") and equals and value in unrecognized and name in switches:
            return f"{flag}: got {value!r}; allowed: --{name} or --no-{name}, a switch without a value"
    return None


def one_line(box: str) -> str:
    """tyro's error box -> '--flag: got VALUE; allowed: TYPE; see --help' (or tyro's first paragraph)."""
    lines = [re.sub(r"^[\s│╭╰─╮╯]*|[\s│╮╯]*$", "", line) for line in box.splitlines()[1:]]
    paragraph = " ".join(itertools.takewhile(bool, itertools.dropwhile(lambda x: not x, lines)))
    paragraph = re.sub(r"^Error parsing ", "", paragraph).rstrip(".") or "the flags could not be parsed"
    typed = re.match(r"(--[\w-]+): no type matching (.+) could be instantiated from \[(.*)\]$", paragraph)
    if typed:
        flag, allowed, given = typed.groups()
        allowed = re.sub(r"^\{None\}\|", "", allowed).strip("{}")
        return f"{flag}: got {given}; allowed: {allowed}; see --help"
    literal = re.match(r"(--[\w-]+): invalid literal for (\w+)\(\) with base 10: (.+)$", paragraph)
    if literal:
        flag, kind, given = literal.groups()
        return f"{flag}: got {given}; allowed: {kind.upper()}; see --help"
    allowed = _helptext(lines)
    return f"{paragraph}; allowed: {allowed}; see --help" if allowed and "allowed" not in paragraph \
        else f"{paragraph}; see --help"


def _helptext(lines: list[str]) -> str:
    """The box's "Argument helptext:" as one phrase: the flag's metavar (when it is a plain one such as
    FLOAT) and its description without the default, e.g. 'FLOAT: Steps per second ...'; "" when none."""
    try:
        start = lines.index("Argument helptext:") + 1
    except ValueError:
        return ""
    text = " ".join(itertools.takewhile(lambda x: x and not set(x) <= set("─"), lines[start:]))
    words = text.split(" ")[1:]  # past the flag
    depth, end = 0, 0
    for end, word in enumerate(words, 1):  # the metavar: words up to brackets balanced again
        depth += word.count("[") + word.count("{") - word.count("]") - word.count("}")
        if depth <= 0:
            break
    metavar, description = " ".join(words[:end]), " ".join(words[end:])
    description = re.sub(r"\s*\(default: .*\)$", "", description).strip().rstrip(".")
    if any(c in metavar for c in "[{|"):  # a compound type's metavar reads worse than its description
        metavar = ""
    return f"{metavar}: {description}" if metavar and description else (metavar or description)


def safe_streams() -> None:
    """Make stdout and stderr write what they cannot encode as backslash escapes, so that a path with
    non-ASCII characters cannot crash a command on an ASCII terminal (LC_ALL=C, PYTHONIOENCODING=ascii)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def quiet_thread_errors() -> None:
    """Leave out the traceback of a file-system error in a background thread. TensorBoard's writer thread keeps
    such an error (a full disk, too many open files) and raises it again in the main thread at its next write,
    where the command says it in one line; the thread's own traceback would only repeat it."""
    previous = threading.excepthook

    def hook(args) -> None:
        if not issubclass(args.exc_type, OSError):
            previous(args)

    threading.excepthook = hook


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (torch appends C++ stacks and advice), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
