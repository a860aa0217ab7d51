"""The whole front from one training run: Pareto manifold learning (Dimitriadis, Frossard,
Fleuret, ICML 2023) inside a study.

:mod:`~paretolab.one_run.manifold` holds the anchors and their mixtures (usable in your own
loop: :class:`ParetoManifold`), :mod:`~paretolab.one_run.train` trains a task's manifold and
evaluates it on a grid of preferences, :mod:`~paretolab.one_run.trial` makes that a study trial
whose evaluated preferences become trials of their own.
"""

from paretolab.one_run.manifold import ParetoManifold, anchor_count, preference_grid

__all__ = ["ParetoManifold", "anchor_count", "preference_grid"]
