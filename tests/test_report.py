"""The study report: figures from real and synthetic studies, escaping, size, CLI, runner hook."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

from paretolab import decision
from paretolab.cli import app
from paretolab.records import META_KEY, StudyMeta, front_summary, load_records
from paretolab.report import knee_point, write_report
from paretolab.report.data import ReportData
from paretolab.report.page import build_page

runner = CliRunner()
XSS = "<script>alert(1)</script>"


# --- synthetic studies (fast: no training) ---------------------------------------------------

def make_meta(name: str, objectives: list[str], directions: list[str], losses: list[str],
              constraints: list[str] | None = None, budget: int = 0) -> StudyMeta:
    return StudyMeta(name=name, objectives=objectives, directions=directions,
                     refs=[None] * len(objectives), constraints=constraints or [], losses=losses,
                     trials_budget=budget, spec={"name": name})


def synthetic_study(n: int, *, name: str = "synthetic", objectives: list[str] | None = None,
                    directions: list[str] | None = None, losses: list[str] | None = None,
                    balancers: tuple[str, ...] = ("static", "mgda"), conflict: bool = False,
                    constrained: bool = False, storage: str | None = None, seed: int = 0,
                    steps: int = 10) -> optuna.Study:
    """A paretolab-shaped study: weights on the simplex, objectives that trade off, curves,
    some failed and pruned trials, optional constraints and gradient-conflict records."""
    objectives = objectives or ["error", "sparsity"]
    directions = directions or ["minimize", "maximize"][: len(objectives)] + \
        ["minimize"] * max(0, len(objectives) - 2)
    losses = losses or [f"loss{i}" for i in range(len(objectives))]
    rng = np.random.default_rng(seed)
    meta = make_meta(name, objectives, directions, losses,
                     ["violation <= 0"] if constrained else [], budget=n)
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    study.set_user_attr(META_KEY, meta.to_attr())
    grid = list(range(0, steps + 1, max(1, steps // 5)))
    for i in range(n):
        w = rng.dirichlet(np.ones(len(losses)))
        noise = rng.uniform(0.0, 0.3, len(objectives))
        # a convex trade-off plus noise: weight on loss j lowers objective j
        vals = [float((1 - w[j % len(w)]) ** 2 + noise[j]) for j in range(len(objectives))]
        vals = [v if d == "minimize" else -v for v, d in zip(vals, directions)]
        bal = balancers[i % len(balancers)]
        config = {"weights": {k: float(x) for k, x in zip(losses, w)},
                  "balancer": {"method": bal, "settings": {"alpha": round(float(rng.uniform()), 3)}},
                  "train": {"lr": 0.01}, "task": "synthetic", "task_params": {}, "seed": i,
                  "steps": steps}
        curves = {"step": grid}
        for name_, v in zip(objectives, vals):
            curves[name_] = [float(v + (3.0 - 3.0 * s / steps)) for s in grid]
        attrs = {"config": config, "metrics": dict(zip(objectives, vals)), "curves": curves,
                 "wall_time_s": float(rng.uniform(0.5, 2.0)), "device": "cpu", "knobs": {}}
        if conflict:
            attrs["conflict"] = {"step": grid, **{f"cos:{a}|{b}": [float(np.cos(s / steps + k)) for s in grid]
                                                 for k, (a, b) in enumerate(zip(losses, losses[1:]))}}
        state = optuna.trial.TrialState.COMPLETE
        if i % 17 == 5:
            state = optuna.trial.TrialState.FAIL
            attrs = {"config": config, "failure": "loss became NaN at step 3"}
        elif i % 19 == 7:
            state = optuna.trial.TrialState.PRUNED
        constraints = {"violation <= 0": float(max(0.0, rng.normal(-0.5, 0.5)))} if constrained else None
        study.add_trial(optuna.trial.create_trial(
            state=state, values=vals if state == optuna.trial.TrialState.COMPLETE else None,
            user_attrs=attrs, constraints=constraints if state == optuna.trial.TrialState.COMPLETE else None))
    return study


def page_for(study: optuna.Study, tmp_path: Path, **kw) -> tuple[str, ReportData, dict]:
    meta = StudyMeta.from_study(study)
    records = load_records(study)
    path = write_report(meta, records, tmp_path, **kw).html
    data = ReportData.build(meta, records)
    return path.read_text(encoding="utf-8"), data, build_page(data).figures


def trace_points(fig) -> list[int]:
    return [len(t.x if t.x is not None else (t.a if getattr(t, "a", None) is not None else t.y or []))
            for t in fig.data]


# --- knee -----------------------------------------------------------------------------------

def test_knee_is_the_balanced_point_and_agrees_with_pick() -> None:
    front = np.array([[0.0, 1.0], [0.2, 0.3], [0.5, 0.1], [1.0, 0.0]])
    assert knee_point(front, ["minimize", "minimize"]) == 1
    # directions matter: maximising the second objective flips which points are good
    assert knee_point(front * [1, -1], ["minimize", "maximize"]) == 1
    rng = np.random.default_rng(3)
    for _ in range(20):
        pts = rng.random((30, 3))
        dirs = list(rng.choice(["minimize", "maximize"], 3))
        from paretolab.dominance import nondominated_mask
        idx = np.flatnonzero(nondominated_mask(pts, dirs))
        assert idx[knee_point(pts[idx], dirs)] == decision.knee(pts, dirs)


# --- figures --------------------------------------------------------------------------------

@pytest.mark.parametrize("m,losses", [(1, 2), (2, 2), (3, 3), (4, 5)])
@pytest.mark.slow  # over 0.9 s
def test_every_section_is_drawn_for_each_number_of_objectives(tmp_path: Path, m: int, losses: int) -> None:
    objectives = [f"f{j}" for j in range(m)]
    study = synthetic_study(40, objectives=objectives, directions=["minimize"] * m,
                            losses=[f"l{k}" for k in range(losses)], conflict=True, constrained=True)
    html, data, figs = page_for(study, tmp_path)
    n_complete = len(data.complete)
    # the front figure holds every complete trial exactly once (plus the knee star)
    front = figs["fig-front"]
    if m <= 3:
        marker_traces = [t for t in front.data if t.name in ("dominated", "infeasible", "Pareto front")]
        assert sum(len(t.x) for t in marker_traces) == n_complete
    else:
        assert len(front.data[0].dimensions[0].values) == n_complete
        assert "fig-front-parcoords" in figs
    if m == 3:
        assert front.data[0].type == "scatter3d" and "fig-front-pairs" in figs
    expected = {"fig-front", "fig-hv", "fig-weights", "fig-balancer-ranks", "fig-curves", "fig-conflict",
                "fig-params"}
    assert expected <= set(figs)
    # importance ranks two or more searched things: with two losses only one weight is searched
    assert ("fig-importance" in figs) == (losses > 2)
    kind = {2: "scatter", 3: "scatterternary"}.get(losses, "parcoords")
    assert figs["fig-weights"].data[0].type == kind
    for div in figs:
        assert f'id="{div}"' in html
    assert html.count("<section") == 10
    # parallel coordinates: every weight then every objective, one line per complete trial
    params = figs["fig-params"].data[0]
    assert [d.label for d in params.dimensions] == [f"w:l{k}" for k in range(losses)] + \
        [f"f{j} (min)" for j in range(m)]
    assert all(len(d.values) == n_complete for d in params.dimensions)
    if losses > 2:
        assert len(figs["fig-importance"].data) == m
    assert "not recorded" not in html


@pytest.mark.slow  # over 0.9 s
def test_summary_counts_knee_and_pick_command(tmp_path: Path) -> None:
    study = synthetic_study(60, constrained=True)
    html, data, _ = page_for(study, tmp_path, target="reports/synthetic")
    records = load_records(study)
    states = [r.state for r in records]
    assert (f"{states.count('COMPLETE')} complete, {states.count('FAIL')} failed, "
            f"{states.count('PRUNED')} pruned") in html
    summary = front_summary(data.meta, records)
    assert f"{len(summary.numbers)} trials" in html
    assert f"{summary.hypervolume:.6g}" in html
    knee = data.complete[data.knee].number
    assert knee in summary.numbers
    assert f"paretolab pick reports/synthetic --trial {knee}" in html
    # the front table: one row per front trial, each with its own pick command
    table = html[html.index('id="front-table"'):]
    assert table.count("<tr") - 1 == len(summary.numbers)
    for number in summary.numbers:
        assert f"--trial {number}</code>" in table
    # infeasible trials exist and are drawn as such
    assert (~data.feasible).any()


@pytest.mark.slow  # over 0.9 s
def test_gradient_conflict_says_not_recorded_when_absent(tmp_path: Path) -> None:
    html, _, figs = page_for(synthetic_study(20), tmp_path)
    assert "fig-conflict" not in figs
    assert "Gradient conflict: not recorded" in html


@pytest.mark.slow  # over 0.9 s
def test_balancer_comparison_has_each_balancers_own_front(tmp_path: Path) -> None:
    study = synthetic_study(50, balancers=("static", "mgda", "gradnorm"))
    html, data, figs = page_for(study, tmp_path)
    names = [t.name for t in figs["fig-balancer-fronts"].data]
    assert names == ["gradnorm", "mgda", "static"]
    for t in figs["fig-balancer-fronts"].data:  # each line is non-dominated among that balancer's trials
        from paretolab.dominance import nondominated_mask
        own = [i for i, r in enumerate(data.complete) if data.balancer(r) == t.name]
        mask = nondominated_mask(data.values[own], data.meta.directions, data.violations[own])
        assert len(t.x) == mask.sum()
    assert sum(len(t.y) for t in figs["fig-balancer-ranks"].data) == len(data.complete)


def test_no_complete_trial_still_writes_a_page(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr(META_KEY, make_meta("empty", ["a", "b"], ["minimize"] * 2, ["a", "b"]).to_attr())
    html, _, figs = page_for(study, tmp_path)
    assert "no complete trial yet" in html and not figs


# --- escaping ---------------------------------------------------------------------------------

def test_user_strings_are_escaped_everywhere(tmp_path: Path) -> None:
    evil_obj, evil_loss = "<img src=x onerror=alert(2)>", "</script><b>loss"
    study = synthetic_study(15, name=XSS, objectives=[evil_obj, "b"], losses=[evil_loss, "l&2"])
    html, _, _ = page_for(study, tmp_path)
    # the page's own scripts: plotly.js, one per figure, the sort script; nothing from the user
    scripts = re.findall(r"<script[^>]*>", html)
    assert len(scripts) == html.count("</script>")
    assert XSS not in html and "<img src=x" not in html and "</script><b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # heading and title show it as text
    # inside the figures' JSON the strings are \u003c-escaped, not raw
    assert "\\u003cimg src=x" in html or "&lt;img src=x" in html


# --- size ---------------------------------------------------------------------------------------

@pytest.mark.slow  # over 0.9 s
def test_a_thousand_trial_report_is_under_8_mb(tmp_path: Path) -> None:
    study = synthetic_study(1000, objectives=["a", "b", "c"], directions=["minimize"] * 3,
                            losses=["x", "y", "z"], balancers=("static", "mgda", "cagrad", "gradnorm"),
                            conflict=True, constrained=True, steps=100)
    html, data, _ = page_for(study, tmp_path)
    size = (tmp_path / "report.html").stat().st_size
    print(f"1000-trial report: {size / 1e6:.2f} MB, front {int(data.on_front.sum())}")
    assert size < 8_000_000
    assert html.count('<script>paretolabPlot("') == 10  # every section's figures, 3 objectives
    import plotly.offline
    assert html.count(plotly.offline.get_plotlyjs()[:200]) == 1
    assert "https://cdn" not in html.replace(plotly.offline.get_plotlyjs(), "")


# --- CLI and runner -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of the toy task (6 trials, 20 steps): `paretolab run` writes the report."""
    root = tmp_path_factory.mktemp("toy")
    (root / "study.yaml").write_text(textwrap.dedent("""\
        name: toy-report
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        train: {lr: 0.05}
        budget: {trials: 6, steps: 20}
        seed: 1
    """))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        result = runner.invoke(app, ["run", "study.yaml", "--no-progress"])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.slow
def test_run_writes_the_report_with_the_study_files_pick_command(toy_study: Path) -> None:
    html = (toy_study / "reports" / "toy-report" / "report.html").read_text()
    assert "toy-report" in html and "6 complete, 0 failed, 0 pruned" in html
    assert re.search(r"paretolab pick \S*study\.yaml --trial \d+", html)


@pytest.mark.slow
def test_report_command_for_dir_file_and_url(toy_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(toy_study)
    out_dir = toy_study / "reports" / "toy-report"
    (out_dir / "report.html").unlink()
    for args in (["reports/toy-report"], ["study.yaml"],
                 ["sqlite:///reports/toy-report/study.db", "--study", "toy-report"]):
        result = runner.invoke(app, ["report", *args])
        assert result.exit_code == 0, result.output
        assert (out_dir / "report.html").is_file() and "report.html" in result.output
    assert (out_dir / "trials.csv").is_file() and (out_dir / "front.csv").is_file()


@pytest.mark.slow
def test_static_export_says_clearly_when_no_exporter(toy_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(toy_study)
    result = runner.invoke(app, ["report", "reports/toy-report", "--static"])
    assert result.exit_code == 0, result.output
    try:
        import kaleido  # noqa: F401
    except ImportError:
        assert "pip install kaleido" in result.output
    else:
        assert "static figures" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["missing-dir"], "no such study directory"),
    (["sqlite:///reports/toy-report/study.db"], "--study NAME"),
    (["sqlite:///reports/toy-report/study.db", "--study", "nope"], "no study named 'nope'"),
    (["."], "no study.db"),
])
def test_report_errors_exit_2_with_a_clear_message(toy_study: Path, monkeypatch: pytest.MonkeyPatch,
                                                   args: list[str], message: str) -> None:
    monkeypatch.chdir(toy_study)
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_report_error_never_loses_the_runs_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import paretolab.report as report

    def broken(*a, **k):
        raise RuntimeError("figure exploded")

    monkeypatch.setattr(report, "write_report", broken)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("name: broken-report\ntask: toy\nobjectives: [loss1, loss2]\n"
                                     "budget: {trials: 2, steps: 5}\n")
    result = runner.invoke(app, ["run", "s.yaml", "--no-progress"])
    assert result.exit_code == 1, result.output  # the front is shown, but a file is missing (issue 13.4)
    assert "report.html not written" in result.output and "Pareto front of" in result.output
    study_dir = tmp_path / "reports" / "broken-report"
    assert (study_dir / "trials.csv").is_file() and not (study_dir / "report.html").exists()
    assert "report.html not written: RuntimeError: figure exploded" in (study_dir / "worker-0.log").read_text()


def test_report_json_in_page_is_valid_for_every_figure(tmp_path: Path) -> None:
    """Every Plotly.newPlot call carries parseable JSON (what the browser test then renders)."""
    html, data, figs = page_for(synthetic_study(30, conflict=True), tmp_path)
    calls = re.findall(r'<script>paretolabPlot\("([^"]+)", (.*?)\);</script>', html, flags=re.S)
    assert {c[0] for c in calls} == set(figs)
    for _, spec in calls:
        fig = json.loads(spec)
        assert fig["data"] and "layout" in fig
    hover = json.loads(re.search(r"var HOVER = (\[.*?\]);", html, flags=re.S).group(1))
    assert len(hover) == len(data.complete) and hover[0].startswith("<b>trial")


# --- params, importance, constraint metrics ----------------------------------------------------

def knob_study(n: int) -> optuna.Study:
    """Trials with searched params: ``lr`` drives ``error``, the weight of ``a`` drives ``size``,
    the balancer drives nothing; ``memory`` is a constraint metric."""
    meta = make_meta("knobs", ["error", "size"], ["minimize", "minimize"], ["a", "b"], ["memory <= 5"], n)
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr(META_KEY, meta.to_attr())
    rng = np.random.default_rng(0)
    dists = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
             "balancer": optuna.distributions.CategoricalDistribution(["static", "mgda"])}
    for i in range(n):
        lr, w, bal = float(10 ** rng.uniform(-4, -1)), float(rng.uniform()), ["static", "mgda"][i % 2]
        error = (np.log10(lr) + 2.5) ** 2 + 0.01 * rng.normal()
        size = w + 0.01 * rng.normal()
        memory = float(rng.uniform(0, 6))
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr, "balancer": bal}, distributions=dists, values=[error, size],
            constraints={"memory <= 5": memory - 5},
            user_attrs={"config": {"weights": {"a": w, "b": 1 - w}, "balancer": {"method": bal}},
                        "metrics": {"error": error, "size": size, "memory": memory}}))
    return study


def test_params_view_and_importance_per_objective(tmp_path: Path) -> None:
    html, data, figs = page_for(knob_study(40), tmp_path)
    dims = {d.label: d for d in figs["fig-params"].data[0].dimensions}
    assert list(dims) == ["balancer", "lr", "w:a", "w:b", "error (min)", "size (min)"]
    assert list(dims["balancer"].ticktext) == ["mgda", "static"]
    assert sorted(set(dims["balancer"].values)) == [0, 1]
    bars = {t.name: dict(zip(t.y, t.x)) for t in figs["fig-importance"].data}
    assert set(bars) == {"error", "size"}
    assert max(bars["error"], key=bars["error"].get) == "lr"  # fANOVA finds what drives each objective
    assert max(bars["size"], key=bars["size"].get) == "w:a"
    assert "w:b" not in bars["size"]  # with two losses the first weight stands for both
    for values in bars.values():
        assert sum(values.values()) == pytest.approx(1.0, abs=1e-6)
    assert 'id="fig-params"' in html and 'id="fig-importance"' in html


def test_front_table_shows_searched_params_and_constraint_metrics(tmp_path: Path) -> None:
    html, data, _ = page_for(knob_study(30), tmp_path)
    table = html[html.index('id="front-table"'):html.index("</table>", html.index('id="front-table"'))]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert "memory" in heads and "lr" in heads and heads.count("balancer") == 1
    for i in data.front_indices():
        r = data.complete[i]
        assert f'data-value="{r.metrics["memory"]!r}"' in table
        assert f'data-value="{r.knobs["lr"]!r}"' in table


def test_importance_is_skipped_with_a_note_below_five_trials(tmp_path: Path) -> None:
    html, _, figs = page_for(knob_study(4), tmp_path)
    assert "fig-importance" not in figs and "fig-params" in figs
    assert "param importance needs at least 5 complete trials (4 so far)" in html


def test_identical_front_points_count_once_and_list_their_trials(tmp_path: Path) -> None:
    """Four trials reach the same point (the RL study's four (1, -1) points): the front has two
    points, not five; the report, front.csv and status each show the point once with its trials."""
    from paretolab.status import StudyStatus, render_status
    from paretolab.tables import write_tables

    meta = make_meta("dup", ["a", "b"], ["minimize", "minimize"], ["a", "b"], budget=5)
    study = optuna.create_study(study_name="dup", directions=meta.directions)
    study.set_user_attr(META_KEY, meta.to_attr())
    for values in ([1.0, -1.0], [0.0, 0.0], [1.0, -1.0], [1.0, -1.0], [1.0, -1.0], [2.0, 2.0]):
        study.add_trial(optuna.trial.create_trial(values=values, user_attrs={"config": {"seed": 0}}))
    records = load_records(study)
    summary = front_summary(meta, records)
    assert summary.points == [[0, 2, 3, 4], [1]] and summary.numbers == [0, 1, 2, 3, 4]
    page, _, _ = page_for(study, tmp_path)
    assert "2 points (5 trials: identical points count once)" in page
    assert '<td data-value="0">0, 2, 3, 4</td>' in page and '<td data-value="2">' not in page
    _, front_csv = write_tables(meta, records, tmp_path)
    front = front_csv.read_text().splitlines()
    assert len(front) == 3 and any(",0 2 3 4," in line for line in front)
    from rich.console import Console
    console = Console(width=200, record=True)
    console.print(render_status(StudyStatus(meta, records, summary, {"done": 6, "COMPLETE": 6, "FAIL": 0,
                                                                     "PRUNED": 0, "RUNNING": 0})))
    text = console.export_text()
    assert "current front (2 points, 5 trials of 6 complete trials)" in text and "0, 2, 3, 4" in text
