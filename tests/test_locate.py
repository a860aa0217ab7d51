"""One study locator: every command names a study the same ways, and every command paretolab
suggests (the report's rows, the end of ``paretolab run``, error hints) runs as written."""

from __future__ import annotations

import html
import re
import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.locate import command_target, locate, open_source

runner = CliRunner()


def study_text(name: str, storage: str | None = None) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        task: {{ref: toy, params: {{start: [0.0, 0.0]}}}}
        objectives: [loss1, loss2]
        train: {{lr: 0.05}}
        budget: {{trials: 3, steps: 10}}
        seed: 2
    """) + (f"storage: {storage}\n" if storage else "")


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"paretolab {shlex.join(args)}\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """alpha: the default storage; beta and gamma: one shared SQLite file; delta: a study file
    run with --storage elsewhere. Each run's output is kept in run-<name>.txt."""
    base = tmp_path_factory.mktemp("locate")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        (base / "alpha.yaml").write_text(study_text("alpha"))
        (base / "beta.yaml").write_text(study_text("beta", "sqlite:///shared/study.db"))
        (base / "gamma.yaml").write_text(study_text("gamma", "sqlite:///shared/study.db"))
        (base / "delta.yaml").write_text(study_text("delta"))
        for name in ("alpha", "beta", "gamma"):
            (base / f"run-{name}.txt").write_text(cli("run", f"{name}.yaml", "--no-progress"))
        (base / "run-delta.txt").write_text(
            cli("run", "delta.yaml", "--no-progress", "--storage", "sqlite:///moved/delta.db"))
        yield base


@pytest.fixture()
def here(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(root)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("target,study,name,study_dir", [
    ("reports/alpha", None, "alpha", "reports/alpha"),
    ("alpha.yaml", None, "alpha", "reports/alpha"),
    ("sqlite:///reports/alpha/study.db", "alpha", "alpha", "reports/alpha"),
    ("sqlite:///shared/study.db", "gamma", "gamma", "reports/gamma"),
    ("beta.yaml", None, "beta", "reports/beta"),
    ("beta.yaml", "gamma", "gamma", "reports/gamma"),  # the file's storage, another of its studies
    ("shared", "beta", "beta", "reports/beta"),  # a folder whose study.db holds several studies
])
def test_a_folder_a_study_file_or_a_url_with_study_name_the_same_study(
        here: Path, target: str, study: str | None, name: str, study_dir: str) -> None:
    source = open_source(target, study)
    assert source.name == name and source.study.study_name == name
    assert source.study_dir == Path(study_dir)
    assert len(source.study.trials) == 3
    cli("pick", target, *(["--study", study] if study else []), "--trial", "1")
    assert (here / study_dir / "pick.yaml").is_file()
    assert "report.html" in cli("report", target, *(["--study", study] if study else []))


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["missing-dir"], "no such study directory, study file or storage URL"),
    (["sqlite:///shared/study.db"], "add --study NAME"),
    (["shared"], "holds 2 studies (beta, gamma)"),
    (["sqlite:///shared/study.db", "--study", "nope"], "no study named 'nope'"),
    (["sqlite:///no/such.db", "--study", "x"], "no such SQLite file"),
    (["."], "no study.db"),
    (["run-alpha.txt"], "not a study file"),
])
@pytest.mark.parametrize("command", ["pick", "report"])
def test_pick_and_report_give_the_same_clear_error(here: Path, command: str, args: list[str],
                                                   message: str) -> None:
    output = cli(command, *args, code=2)
    assert message in output and "Traceback" not in output
    if "nope" in args:
        assert "studies there: beta, gamma" in output


def test_command_target_quotes_redacts_and_adds_the_study_name() -> None:
    assert command_target("reports/my study") == "'reports/my study'"
    assert command_target("postgresql://u:secret@h/db", "s 1") == "'postgresql://u:***@h/db' --study 's 1'"
    assert command_target(str(Path.cwd() / "reports" / "x")) == "reports/x"


def test_a_url_needs_a_name_before_anything_is_opened() -> None:
    with pytest.raises(Exception, match="needs the study's name"):
        locate("postgresql://user@unreachable-host/db")


# --- every suggested command runs ---------------------------------------------------------------
def suggested_in_html(page: str) -> list[str]:
    return [c for c in (html.unescape(m) for m in re.findall(r"<code>(.*?)</code>", page, re.S))
            if c.startswith("paretolab ")]


def suggested_in_output(text: str) -> list[str]:
    """Commands the CLI prints: 'next: paretolab ...' lines and quoted 'paretolab ...' hints
    (templates with <placeholders> left out)."""
    found = [m.strip() for m in re.findall(r"next: (paretolab .+?)(?:\s{2,}|$)", text, re.M)]
    found += re.findall(r"'(paretolab [^']+)'", text)
    return [c for c in found if "<" not in c and "..." not in c]


def run_suggested(command: str) -> None:
    args = shlex.split(command)
    assert args[0] == "paretolab"
    cli(*args[1:])


@pytest.mark.slow
def test_every_command_the_cli_and_the_reports_suggest_runs(here: Path) -> None:
    commands: list[str] = []
    for name in ("alpha", "beta", "gamma", "delta"):  # the closing lines of 'paretolab run'
        commands += suggested_in_output((here / f"run-{name}.txt").read_text())
    # every report: as 'paretolab run' wrote it, and rewritten from each form of naming the study
    for target, study in (("sqlite:///moved/delta.db", "delta"), ("alpha.yaml", None),
                          ("reports/alpha", None),
                          ("sqlite:///reports/alpha/study.db", "alpha"),
                          ("sqlite:///shared/study.db", "beta"), ("gamma.yaml", None),
                          ("shared", "gamma")):
        study_dir = locate(target, study).study_dir
        commands += suggested_in_html((here / study_dir / "report.html").read_text())
        cli("report", target, *(["--study", study] if study else []))
        commands += suggested_in_html((here / study_dir / "report.html").read_text())
    # what 'paretolab pick' suggests next (each form of naming the study)
    for args in (["reports/alpha"], ["gamma.yaml", "--trial", "0"],
                 ["sqlite:///moved/delta.db", "--study", "delta"]):
        commands += suggested_in_output(cli("pick", *args))
    # an error's hint: a study file that has not been run yet
    (here / "epsilon.yaml").write_text(study_text("epsilon"))
    commands += suggested_in_output(cli("pick", "epsilon.yaml", code=2))

    commands = list(dict.fromkeys(commands))
    assert any("--study beta" in c for c in commands)  # a report built from a storage URL
    assert any(c.startswith("paretolab pick shared --study gamma --trial") for c in commands)
    assert any(c.startswith("paretolab pick sqlite:///moved/delta.db --study delta") for c in commands)
    assert "paretolab run epsilon.yaml" in commands
    assert "paretolab train reports/delta/pick.yaml" in commands
    assert len(commands) >= 10
    for command in commands:
        run_suggested(command)


@pytest.mark.parametrize("name", ["my study", "étude", "a/b"])
def test_a_study_named_by_url_or_by_a_shared_folder_writes_where_run_wrote(tmp_path: Path, monkeypatch,
                                                                           name: str) -> None:
    """``report``/``pick`` given a storage URL (or a folder of several studies) and ``--study`` use
    the folder ``paretolab run`` gave the study, not another spelling of its name."""
    import optuna

    from paretolab.spec import parse_spec

    monkeypatch.chdir(tmp_path)
    run_folder = parse_spec(f"name: '{name}'\ntask: toy\nobjectives: [loss1]\n").study_dir
    (tmp_path / "shared").mkdir()
    url = f"sqlite:///{(tmp_path / 'shared' / 'study.db').as_posix()}"
    for study_name in (name, "other"):
        optuna.create_study(study_name=study_name, storage=url)
    assert locate(url, name).study_dir == run_folder
    assert locate("shared", name).study_dir == run_folder
