"""The one error type of a compare: bad input or an unusable output folder, named with what to do."""

from __future__ import annotations


class CompareError(ValueError):
    """Bad input to a compare; the message names the flag, what was given and what is allowed."""
