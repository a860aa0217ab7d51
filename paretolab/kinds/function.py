"""Function trials: the user's ``train(trial)`` called in the worker process
(:mod:`paretolab.trials.function`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paretolab.kinds.user_code import UserCodeKind

if TYPE_CHECKING:
    from paretolab.spec import StudySpec


class FunctionKind(UserCodeKind):
    name = "function"
    entry_key = "function"

    def applies(self, spec: StudySpec) -> bool:
        return spec.trainer is not None and spec.trainer.function is not None
