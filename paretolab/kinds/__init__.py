"""Kinds of trial, one module each behind one protocol (:class:`~paretolab.kinds.base.TrialKind`):

* :mod:`~paretolab.kinds.task`: our trainer over a task (the default);
* :mod:`~paretolab.kinds.function` and :mod:`~paretolab.kinds.command`: the user's own training
  code (``trainer:``), sharing :mod:`~paretolab.kinds.user_code`;
* :mod:`~paretolab.kinds.one_run`: one training of a Pareto manifold, many points;
* :mod:`~paretolab.kinds.repeat`: a configuration trained again with other seeds
  (``budget.repeats``, ``paretolab verify``).

:mod:`~paretolab.kinds.registry` maps a study file, or a stored configuration, to its kind.
"""

from paretolab.kinds.base import Outcome, RunContext, TrainingKind, TrialKind
from paretolab.kinds.registry import for_config, for_spec, for_trial, kinds, register

__all__ = ["Outcome", "RunContext", "TrainingKind", "TrialKind", "for_config", "for_spec", "for_trial",
           "kinds", "register"]
