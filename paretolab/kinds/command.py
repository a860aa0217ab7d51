"""Command trials: a program run per trial under supervision, its metrics read from the lines
it appends (:mod:`paretolab.trials.command`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paretolab.kinds.user_code import UserCodeKind

if TYPE_CHECKING:
    from paretolab.spec import StudySpec


class CommandKind(UserCodeKind):
    name = "command"
    entry_key = "command"

    def applies(self, spec: StudySpec) -> bool:
        return spec.trainer is not None and spec.trainer.function is None
