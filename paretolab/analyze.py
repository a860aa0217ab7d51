"""Gradient flow of a trial: per-layer gradient norms of each loss at a few points of training
(the per-layer gradient statistics of Glorot and Bengio, AISTATS 2010, taken per loss).

``paretolab analyze <study> --trial N`` trains trial N's configuration again (its seed, weights,
balancer and steps, as ``paretolab train`` would) and, before the update of each probed step
(by default 5, evenly spread from the first step to the last), takes each balanced loss's own
gradient with respect to the model's parameters and records, per layer (the parameters of one
module, e.g. ``encoder.0``), the L2 norm of that gradient. The result is stored beside the study
as ``analysis/trial-<N>.json`` and drawn in the report ("Gradient flow"). A layer whose norm for
one loss is orders of magnitude below another's is where that loss barely trains the model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from paretolab.errors import UserError

ANALYSIS_DIR = "analysis"


def probe_steps(total: int, count: int) -> list[int]:
    """``count`` steps from 1 to ``total`` (1-based), evenly spread, without repeats."""
    if count <= 1:
        return [total]
    return sorted({max(1, round(1 + i * (total - 1) / (count - 1))) for i in range(count)})


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: its module's name (``encoder.0.weight`` -> ``encoder.0``)."""
    return name.rsplit(".", 1)[0] if "." in name else name


def gradient_flow(config: Any, base_dir: Path | None = None, *, probes: int = 5,
                  device: str = "cpu") -> dict[str, Any]:
    """Train ``config`` (a :class:`~paretolab.search_space.TrialConfig`) and return
    ``{"steps": [...], "layers": [...], "norms": {loss: [[norm per layer] per probed step]}}``."""
    import torch

    from paretolab.recipe import Recipe, torch_device

    recipe = Recipe(config, base_dir, torch_device(device))
    task = recipe.make_task()
    model = recipe.build_model(task)
    run = recipe.start(model, task)
    batches = recipe.batches(task)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    layers = list(dict.fromkeys(layer_of(n) for n, _ in named))
    where = [layers.index(layer_of(n)) for n, _ in named]
    probed = set(probe_steps(config.steps, probes))
    out: dict[str, Any] = {"steps": [], "layers": layers, "norms": {n: [] for n in recipe.loss_names}}
    for step in range(1, config.steps + 1):
        losses = run.losses(next(batches))
        if step in probed:
            out["steps"].append(step)
            for loss_name, loss in losses.items():
                grads = torch.autograd.grad(loss, [p for _, p in named], retain_graph=True, allow_unused=True)
                squares = [0.0] * len(layers)
                for g, layer in zip(grads, where):
                    if g is not None:
                        squares[layer] += float(g.detach().pow(2).sum())
                out["norms"][loss_name].append([math.sqrt(s) for s in squares])
        run.step(losses)
    return out


def analysis_file(study_dir: Path, number: int) -> Path:
    return Path(study_dir) / ANALYSIS_DIR / f"trial-{int(number)}.json"


def analyze_trial(source: Any, number: int, *, probes: int = 5, device: str = "cpu") -> Path:
    """Measure trial ``number`` of a loaded study (:class:`paretolab.locate.StudySource`) and
    store the result beside it; a :class:`UserError` for a trial that cannot be retrained."""
    from paretolab.records import load_records
    from paretolab.search_space import TrialConfig

    records = {r.number: r for r in load_records(source.study)}
    record = records.get(number)
    if record is None or not record.config:
        raise UserError(f"trial {number} does not exist or has no configuration in study {source.name!r}",
                        hint="see the trial numbers in trials.csv")
    config = TrialConfig.from_dict(record.config)
    if config.extra.get("trainer"):
        raise UserError(f"trial {number} runs your own training code: analyze retrains task trials only")
    one_run = config.extra.get("one_run") or {}
    if one_run and "run" not in one_run:
        raise UserError(f"trial {number} is a one-run training, not a point",
                        hint="analyze one of its points (paretolab pick --trial N names them)")
    config.extra = {}  # a point is analysed as the fixed-weight training of its preference
    result = {"trial": number, "weights": dict(config.weights), **gradient_flow(
        config, source.base_dir, probes=probes, device=device)}
    path = analysis_file(source.study_dir, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return path


def load_analyses(study_dir: Path) -> dict[int, dict[str, Any]]:
    """Every stored analysis of the study, by trial number (unreadable files skipped)."""
    folder = Path(study_dir) / ANALYSIS_DIR
    out: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("trial-*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            out[int(data["trial"])] = data
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def gradient_flow_figure(analyses: dict[int, dict[str, Any]]) -> Any:
    """One row per analysed trial, one column per loss: each layer's gradient norm (log scale)
    against the step; None when nothing was analysed."""
    if not analyses:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    numbers = sorted(analyses)
    losses = list(dict.fromkeys(n for a in analyses.values() for n in a["norms"]))
    fig = make_subplots(rows=len(numbers), cols=len(losses), shared_yaxes=True,
                        subplot_titles=[f"trial {t}: {loss}" for t in numbers for loss in losses])
    for row, number in enumerate(numbers, 1):
        a = analyses[number]
        for col, loss in enumerate(losses, 1):
            rows = a["norms"].get(loss) or []
            for j, layer in enumerate(a["layers"]):
                fig.add_trace(go.Scatter(x=a["steps"], y=[r[j] for r in rows], mode="lines+markers",
                                         name=layer, legendgroup=layer, showlegend=row == 1 and col == 1),
                              row=row, col=col)
            fig.update_yaxes(type="log", row=row, col=col)
            fig.update_xaxes(title_text="step", row=row, col=col)
    fig.update_layout(height=320 * len(numbers) + 80, margin={"l": 50, "r": 20, "t": 60, "b": 40},
                      title="per-layer gradient norm of each loss")
    return fig
