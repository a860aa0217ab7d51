"""The whole front from one training run: Pareto manifold learning (Dimitriadis, Frossard,
Fleuret, ICML 2023) inside a study.

:mod:`~paretolab.one_run.manifold` holds the anchors and their mixtures (usable in your own
loop: :class:`ParetoManifold`), :mod:`~paretolab.one_run.train` trains a task's manifold and
evaluates it on a grid of preferences, :mod:`~paretolab.one_run.trial` makes that a study trial
whose evaluated preferences become trials of their own. :mod:`~paretolab.one_run.soup` is the
other kind of run, rewarded soups (Rame et al., NeurIPS 2023): specialists fine-tuned from one
checkpoint whose weights are interpolated; :mod:`~paretolab.one_run.refine` hands the rest of
the budget to the sampler (``then: sampler``).
"""

from paretolab.one_run.manifold import ParetoManifold, anchor_count, preference_grid

__all__ = ["ParetoManifold", "anchor_count", "preference_grid"]
