"""The ``posttrain`` task's programmatic rewards, each in [0, 1], on one completion's text.

``correct``: the first number of the completion is the sum (``"[46]"``, ``"46 (12+34)"`` and
``"46"`` all count). ``brief``: ``1 - length / max_length``, one for an empty answer.
``format``: the completion starts with the boxed answer ``[digits]`` (right or wrong). They
conflict: the shortest completion (empty) is never correct, a correct one needs every digit of
the sum, and boxing costs two characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_FIRST_NUMBER = re.compile(r"\d+")
_BOXED = re.compile(r"\[\d+\]")


def correct(text: str, answer: int, max_length: int) -> float:
    """1 when the completion's first number is ``answer``."""
    found = _FIRST_NUMBER.search(text)
    return float(found is not None and found.group() == str(answer))


def brief(text: str, answer: int, max_length: int) -> float:
    """``1 - len(text) / max_length`` (clipped at 0)."""
    return max(0.0, 1.0 - len(text) / max_length)


def boxed_format(text: str, answer: int, max_length: int) -> float:
    """1 when the completion starts with ``[digits]``."""
    return float(_BOXED.match(text) is not None)


REWARDS: dict[str, Callable[[str, int, int], float]] = {
    "correct": correct, "brief": brief, "format": boxed_format}


def reward_table(texts: Sequence[str], answers: Sequence[int], max_length: int,
                 names: Sequence[str]) -> list[list[float]]:
    """Rewards ``[names...]`` of every completion: a row per completion."""
    return [[REWARDS[n](t, a, max_length) for n in names] for t, a in zip(texts, answers)]
