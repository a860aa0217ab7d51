"""paretolab: find the trade-off front between competing training objectives."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ParetoManifold", "Pick", "Recipe", "StudyResults", "Task", "TrialContext", "TrialPruned", "__version__",
           "load_pick", "open_study", "retrain"]


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
    if name == "TrialContext":
        from paretolab.trials.context import TrialContext

        return TrialContext
    if name == "TrialPruned":  # what trial.report raises at a rung (RungPruned is one)
        import optuna

        return optuna.TrialPruned
    if name in ("open_study", "StudyResults"):
        from paretolab import results

        return getattr(results, name)
    if name in ("load_pick", "Pick", "retrain"):
        from paretolab import production

        return getattr(production, name)
    raise AttributeError(f"module 'paretolab' has no attribute {name!r}")
