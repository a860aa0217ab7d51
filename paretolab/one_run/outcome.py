"""What one run of a one-run study measured (Pareto manifold learning, Dimitriadis et al., ICML
2023, or a rewarded soup, Rame et al., NeurIPS 2023), and where its settings live in a trial's
configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paretolab.one_run.manifold import ParetoManifold
from paretolab.search_space import TrialConfig

ONE_RUN_EXTRA = "one_run"  # TrialConfig.extra key: the run's settings (or a point's link)


@dataclass
class OneRunResult:
    """What one run measured: the metrics of every evaluated preference, and its cost."""

    preferences: list[dict[str, float]]
    metrics: list[dict[str, float]]
    eval_time_s: list[float]
    steps: int  # optimizer steps (batches)
    train_time_s: float
    device: str
    curves: dict[str, list[float]] = field(default_factory=dict)  # "step", "loss:<name>"
    manifold: ParetoManifold | None = None
    samples_per_step: int = 1
    mixes: list[list[float]] | None = None  # a soup's mixing coefficients, one per point
    state: dict[str, Any] | None = None  # what the run saves (default: the manifold's anchors)

    def saved_state(self) -> dict[str, Any]:
        """What ``anchors.pt`` keeps: the soup's specialists, or the manifold's anchors."""
        if self.state is not None:
            return self.state
        assert self.manifold is not None
        return self.manifold.anchor_state()

    @property
    def passes(self) -> int:
        """Forward-backward passes: what the run cost in per-weight training steps."""
        return self.steps * self.samples_per_step


def run_settings(config: TrialConfig) -> dict[str, Any]:
    """The run's own settings from its config (degree, concentration, samples_per_step, ...)."""
    settings = config.extra.get(ONE_RUN_EXTRA)
    if not isinstance(settings, dict) or ("degree" not in settings and "method" not in settings):
        raise ValueError("this configuration is not a one-run configuration")
    return settings
