"""The report links each command trial's kept stdout and stderr (issue 16): relative links from
report.html that reach the files, also once the study folder is copied elsewhere."""

from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path

import optuna

from paretolab.records import META_KEY, REPEAT_KEY, StudyMeta, load_records
from paretolab.report import write_report

FAILURE = "the command exited with code 3; stderr ends with:\nRuntimeError: boom"


def command_study(n: int) -> optuna.Study:
    """``n`` complete trials trading ``error`` against ``size``, then one failed trial."""
    meta = StudyMeta(name="cmd", objectives=["error", "size"], directions=["minimize", "minimize"],
                     refs=[None, None], constraints=[], losses=["a", "b"], trials_budget=n + 1,
                     spec={"name": "cmd"})
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr(META_KEY, meta.to_attr())
    for i in range(n):
        w = (i + 0.5) / n
        study.add_trial(optuna.trial.create_trial(
            values=[w, 1 - w], user_attrs={"config": {"weights": {"a": w, "b": 1 - w},
                                                      "balancer": {"method": "static"}},
                                           "metrics": {"error": w, "size": 1 - w}}))
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, user_attrs={"failure": FAILURE}))
    return study


def _write_logs(folder: Path, numbers: range) -> None:
    for number in numbers:
        trial = folder / "trials" / str(number)
        trial.mkdir(parents=True)
        (trial / "stdout.log").write_text(f"trial {number} says hello\n")
        (trial / "stderr.log").write_text("RuntimeError: boom\n" if number == 4 else "")


def _links(html: str) -> list[str]:
    body = html[html.index("<body>"):]  # not the links inside Plotly's own script
    return [unescape(h) for h in re.findall(r'<a href="([^"#][^"]*)"', body)]


def test_report_links_each_trials_output_and_the_links_survive_a_copy(tmp_path: Path) -> None:
    study = command_study(4)
    folder = tmp_path / "reports" / "cmd"
    _write_logs(folder, range(5))
    html = write_report(StudyMeta.from_study(study), load_records(study), folder).html.read_text()
    links = _links(html)
    assert set(links) == {f"trials/{n}/{name}" for n in range(5) for name in ("stdout.log", "stderr.log")}
    assert all(not Path(link).is_absolute() for link in links)
    copy = tmp_path / "elsewhere" / "cmd"
    shutil.copytree(folder, copy)
    shutil.rmtree(folder)  # only the copy is left: each link must reach its file from the copied page
    for link in links:
        assert (copy / "report.html").parent.joinpath(link).is_file(), link
    assert (copy / "trials/2/stdout.log").read_text() == "trial 2 says hello\n"
    # the front table has an output column; the failed trial is listed with its reason
    table = html[html.index('id="front-table"'):html.index("</table>", html.index('id="front-table"'))]
    assert 'href="trials/0/stdout.log"' in table
    logs = html[html.index('id="logs-table"'):html.index("</table>", html.index('id="logs-table"'))]
    failed = logs[logs.index('data-value="4"'):]
    assert "fail" in failed and "exited with code 3" in failed and 'href="trials/4/stderr.log"' in failed
    assert "stderr (19 B)" in failed


def test_a_study_without_kept_output_has_no_output_links(tmp_path: Path) -> None:
    study = command_study(3)
    html = write_report(StudyMeta.from_study(study), load_records(study), tmp_path).html.read_text()
    assert _links(html) == [] and 'id="logs-table"' not in html and "<th class=text>output</th>" not in html


def test_extra_seeds_and_verify_repeats_are_linked_too(tmp_path: Path) -> None:
    """``budget.repeats`` keeps each extra seed's output in ``seed-<k>/``; a ``paretolab verify``
    repeat is a trial of its own, listed as the repeat it is."""
    study = command_study(2)
    study.add_trial(optuna.trial.create_trial(
        values=[0.3, 0.7], user_attrs={"config": {"weights": {"a": 0.3, "b": 0.7},
                                                  "balancer": {"method": "static"}},
                                       "metrics": {"error": 0.3, "size": 0.7}, REPEAT_KEY: {"of": 1, "seed": 9}}))
    folder = tmp_path / "cmd"
    _write_logs(folder, range(4))
    for k in (1, 2, 10):
        (folder / "trials/0" / f"seed-{k}").mkdir()
        (folder / "trials/0" / f"seed-{k}" / "stderr.log").write_text("x")
    html = write_report(StudyMeta.from_study(study), load_records(study), folder).html.read_text()
    links = _links(html)
    assert [link for link in links if "seed-" in link][:3] == \
        ["trials/0/seed-1/stderr.log", "trials/0/seed-2/stderr.log", "trials/0/seed-10/stderr.log"]
    assert all((folder / link).is_file() for link in links)
    logs = html[html.index('id="logs-table"'):]
    assert "complete (repeat of 1)" in logs and "seed-10 stderr (1 B)" in logs
