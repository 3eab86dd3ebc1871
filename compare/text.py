"""The formatting every section of results.md shares: numbers, CIs, paired differences, p-values, the
probability of improvement, step counts and Markdown tables."""

from __future__ import annotations

import math
from typing import Optional

from compare import stats


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fmt_ci(s: stats.Summary, digits: int = 2) -> str:
    if math.isnan(s.mean):
        return "n/a"
    if math.isnan(s.low):
        return f"{fmt(s.mean, digits)} (n={s.n}, no CI)"
    return f"{fmt(s.mean, digits)} [{fmt(s.low, digits)}, {fmt(s.high, digits)}]"


def table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines + [""]


def fmt_difference(d: stats.Summary, digits: int = 2) -> str:
    """'+0.31 [0.12, 0.50]': a paired difference with its CI."""
    return "n/a" if math.isnan(d.mean) else f"{d.mean:+.{digits}f}" + (
        "" if math.isnan(d.low) else f" [{d.low:+.{digits}f}, {d.high:+.{digits}f}]")


def fmt_improvement(x: str, y: str, p: stats.Improvement) -> str:
    ci = "" if math.isnan(p.low) else f" [{p.low:.2f}, {p.high:.2f}]"
    return f"P(`{x}` > `{y}`) = {fmt(p.p)}{ci}"


def fmt_steps(steps: float, censored: bool = False) -> str:
    """'0.45M', '12k', '>1.00M' (censored: not reached within the run's `steps`)."""
    if math.isnan(steps):
        return "n/a"
    return (">" if censored else "") + (f"{steps / 1e6:.2f}M" if steps >= 1e5 else f"{steps / 1e3:.0f}k")


def fmt_p(p: Optional[float]) -> str:
    """'0.012', '<0.001', 'n/a'."""
    if p is None or math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def code(name: str) -> str:
    """`name` as Markdown code, unless it already holds code (a description that quotes names)."""
    return name if "`" in name else f"`{name}`"
