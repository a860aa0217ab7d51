"""paretolab: find the trade-off front between competing training objectives."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
# what users import; the rest of the package is internal (its modules may move)
__all__ = ["Balancer", "ParetoManifold", "Pick", "Recipe", "StudyResults", "Task", "TrialContext", "TrialPruned",
           "UserError", "__version__", "check_balancer", "load_pick", "open_study", "retrain", "soup"]


def __getattr__(name: str) -> Any:
    # lazy, so `paretolab schema` and friends do not pay for importing torch
    if name == "Task":
        from paretolab.tasks.base import Task

        return Task
    if name == "Recipe":
        from paretolab.recipe import Recipe

        return Recipe
    if name == "ParetoManifold":
        from paretolab.one_run.manifold import ParetoManifold

        return ParetoManifold
    if name == "soup":
        from paretolab.one_run.soup import soup

        return soup
    if name == "TrialContext":
        from paretolab.trials.context import TrialContext

        return TrialContext
    if name == "TrialPruned":  # what trial.report raises at a rung (RungPruned is one)
        import optuna

        return optuna.TrialPruned
    if name in ("Balancer", "check_balancer"):
        from paretolab import balancers

        return getattr(balancers, name)
    if name == "UserError":  # the base of every error paretolab reports as one line (exit 2)
        from paretolab.errors import UserError

        return UserError
    if name in ("open_study", "StudyResults"):
        from paretolab import results

        return getattr(results, name)
    if name in ("load_pick", "Pick", "retrain"):
        from paretolab import production

        return getattr(production, name)
    raise AttributeError(f"module 'paretolab' has no attribute {name!r}")
