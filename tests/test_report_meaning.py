"""The report shows only what has meaning (issue 30, item 6): no chart that cannot say anything,
a reason where a section is empty, a front table that fits the page, a 2-D view beside the 3-D."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from paretolab.records import META_KEY

from test_report import knob_study, page_for, synthetic_study

pytestmark = pytest.mark.slow  # each writes a report (about 2 s)


def test_one_balancer_gets_a_sentence_not_a_comparison(tmp_path: Path) -> None:
    html, _, figs = page_for(synthetic_study(30, balancers=("static",)), tmp_path)
    assert not any(k.startswith("fig-balancer") for k in figs) and 'id="balancer-table"' not in html
    assert "every complete trial used one balancer (static): nothing to compare" in html


def test_one_searched_thing_gets_no_importance_chart(tmp_path: Path) -> None:
    html, _, figs = page_for(synthetic_study(30), tmp_path)  # two losses, nothing else searched
    assert "fig-importance" not in figs
    assert "only one thing was searched (w:loss0, the weight that stands for both losses)" in html
    _, _, figs = page_for(knob_study(30), tmp_path)  # lr, the balancer and the weight
    assert "fig-importance" in figs


def test_an_empty_conflict_section_says_why(tmp_path: Path) -> None:
    study = synthetic_study(20, balancers=("static",))
    meta = dict(study.user_attrs[META_KEY])
    meta["spec"] = {"name": "synthetic", "train": {"conflict_stats": "auto"}}
    study.set_user_attr(META_KEY, meta)
    html, _, figs = page_for(study, tmp_path)
    assert "fig-conflict" not in figs
    assert ("with train.conflict_stats: auto it is recorded only by balancers that compute each loss's "
            "gradient anyway, and the front's balancers (static)") in html
    assert "Set train.conflict_stats: on to record it" in html
    meta["spec"] = {"name": "synthetic", "trainer": {"function": "train.py:train"}}
    study.set_user_attr(META_KEY, meta)
    html, _, _ = page_for(study, tmp_path)
    assert "your own training code trains the model" in html


def test_front_table_gives_balancer_settings_as_text(tmp_path: Path) -> None:
    html, data, _ = page_for(synthetic_study(40), tmp_path)
    table = html[html.index('id="front-table"'):html.index("</table>", html.index('id="front-table"'))]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert "settings" not in heads and heads.count("balancer") == 1
    assert "{&quot;" not in table and '{"' not in table  # no JSON
    for i in data.front_indices():
        r = data.complete[i]
        alpha = r.config["balancer"]["settings"]["alpha"]
        assert f"{r.config['balancer']['method']}<br><small>alpha={alpha:.4g}</small>" in table


def test_many_searched_params_share_one_cell(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    base = knob_study(12)
    study.set_user_attr(META_KEY, base.user_attrs[META_KEY])
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    names = ["p1", "p2", "p3", "p4", "p5"]
    for i, t in enumerate(base.trials):
        study.add_trial(optuna.trial.create_trial(
            params={n: (i + k) / 20 for k, n in enumerate(names)}, distributions={n: dist for n in names},
            values=t.values, user_attrs=t.user_attrs))
    html, _, _ = page_for(study, tmp_path)
    table = html[html.index('id="front-table"'):html.index("</table>", html.index('id="front-table"'))]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert "params" in heads and not set(names) & set(heads)
    assert "p1=" in table and "p5=" in table


def test_three_objectives_draw_a_projection_beside_the_3d_view(tmp_path: Path) -> None:
    study = synthetic_study(30, objectives=["a", "b", "c"], directions=["minimize", "maximize", "minimize"],
                            losses=["x", "y", "z"])
    html, data, figs = page_for(study, tmp_path)
    assert figs["fig-front"].data[0].type == "scatter3d"
    projection = figs["fig-front-projection"]
    assert sum(len(t.x) for t in projection.data) == len(data.complete)
    assert projection.layout.xaxis.title.text == "a (min)" and projection.layout.yaxis.title.text == "b (max)"
    side = html[html.index('<div class="side">'):]  # one grid: the 3-D view, then the projection
    side = side[:side.index('id="fig-front-projection"')]
    assert 'id="fig-front"' in side and side.count('class="side"') == 1 and "<section" not in side
    _, _, figs2 = page_for(synthetic_study(20), tmp_path)
    assert "fig-front-projection" not in figs2
