"""The study report: one self-contained offline HTML page (Plotly), plus optional static figures.

``write_report`` turns a study's records into ``report.html``; ``report_study`` finds the study
from what the user typed (a study directory, a study file, or a storage URL plus a name), and
also refreshes ``trials.csv`` / ``front.csv``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from paretolab.errors import UserError
from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary, load_records
from paretolab.report.data import ReportData, knee_point

__all__ = ["ReportError", "ReportResult", "knee_point", "pick_target", "report_study", "resolve_study", "write_report"]


class ReportError(UserError):
    """The study to report on cannot be found or read."""


@dataclass
class ReportResult:
    """Where the report went, and what happened to the static export if asked for."""

    html: Path
    static: list[Path] = field(default_factory=list)
    static_message: str | None = None
    tables: tuple[Path, Path] | None = None


def write_report(meta: StudyMeta, records: list[TrialRecord], study_dir: Path, *,
                 summary: FrontSummary | None = None, target: str | None = None,
                 static: bool = False) -> ReportResult:
    """Write ``study_dir/report.html`` atomically (and each figure as PNG + SVG when ``static``).

    ``target`` is how the study is named on the command line; it goes into the ``pick`` commands.
    """
    from paretolab.report.page import build_page

    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    data = ReportData.build(meta, records, summary, target or pick_target(str(study_dir)))
    page = build_page(data)
    path = study_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    try:
        tmp.write_text(page.html, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    result = ReportResult(path)
    if static:
        result.static, result.static_message = export_static(page.figures, study_dir / "figures")
    return result


def export_static(figures: dict, out_dir: Path) -> tuple[list[Path], str]:
    """Each figure as PNG and SVG via Plotly's exporter (kaleido); a clear message if it is missing."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return [], ("static figures skipped: Plotly's image exporter is not installed "
                    "(pip install kaleido; it also needs Chrome or Chromium)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for name, fig in figures.items():
            stem = name.removeprefix("fig-")
            for ext in ("png", "svg"):
                p = out_dir / f"{stem}.{ext}"
                fig.write_image(p, width=1200, height=fig.layout.height or 500)
                written.append(p)
    except Exception as exc:  # the exporter could not start (no browser, ...): say so, keep the HTML
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return written, f"static figures stopped: the image exporter failed ({first})"
    return written, f"static figures: {len(written)} files in {out_dir}"


def pick_target(target: str, study_name: str | None = None) -> str:
    """How ``paretolab pick`` names the study, shell-quoted, passwords redacted."""
    import shlex

    from paretolab.storage import redact

    if not re.match(r"^[a-z][a-z0-9+]*://", target) and Path(target).is_absolute():
        try:  # the path as typed from here, when it is below the current directory
            target = str(Path(target).relative_to(Path.cwd()))
        except ValueError:
            pass
    text = shlex.quote(redact(target))
    if re.match(r"^[a-z][a-z0-9+]*://", target) and study_name:
        text += f" --study {shlex.quote(study_name)}"
    return text


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
    return slug[:100]


def _only_study(url: str, where: str) -> str:
    from paretolab.storage import open_storage

    names = optuna.get_all_study_names(storage=open_storage(url, create_dir=False))
    if len(names) == 1:
        return names[0]
    if not names:
        raise ReportError("the storage holds no study", where=where)
    raise ReportError(f"the storage holds {len(names)} studies: {', '.join(sorted(names))}", where=where,
                      hint="name one with --study NAME")


def resolve_study(target: str, study_name: str | None = None) -> tuple[str, str, Path]:
    """(storage URL, study name, output directory) for a study dir, a study file, or a URL."""
    if re.match(r"^[a-z][a-z0-9+]*://", target):
        if not study_name:
            raise ReportError("a storage URL needs the study's name", where=target,
                              hint="add --study NAME")
        from paretolab.storage import sqlite_path

        path = sqlite_path(target)
        if path is not None and not path.is_file():
            raise ReportError("no such SQLite file", where=target)
        return target, study_name, Path("reports") / _slug(study_name)
    path = Path(target)
    if path.is_dir():
        db = path / "study.db"
        if not db.is_file():
            raise ReportError("not a study directory (it has no study.db)", where=str(path),
                              hint="pass the study directory under reports/, the study file, or a storage URL")
        url = f"sqlite:///{db.as_posix()}"
        return url, study_name or _only_study(url, str(db)), path
    if path.suffix in (".yaml", ".yml") and path.is_file():
        from paretolab.spec import load_spec

        spec = load_spec(path)
        return spec.storage_url, study_name or spec.name, spec.study_dir
    if not path.exists():
        raise ReportError("no such study directory, study file or storage URL", where=target)
    raise ReportError("cannot report on this file", where=target,
                      hint="pass a study directory, a study file (.yaml) or a storage URL with --study")


def load_study(url: str, name: str) -> optuna.Study:
    from paretolab.storage import open_storage

    storage = open_storage(url, create_dir=False)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage=storage)
        raise ReportError(f"no study named {name!r} in the storage", where="--study",
                          hint=f"studies there: {', '.join(sorted(names)) or 'none'}") from None


def report_study(target: str, study_name: str | None = None, *, static: bool = False,
                 output_dir: Path | None = None) -> ReportResult:
    """Load the study ``target`` names and write its report and tables into its directory."""
    from paretolab.tables import write_tables

    url, name, out_dir = resolve_study(str(target), study_name)
    study = load_study(url, name)
    try:
        meta = StudyMeta.from_study(study)
    except KeyError as exc:
        raise ReportError(str(exc.args[0]), where=str(target),
                          hint="report on a study that `paretolab run` created") from None
    records = load_records(study)
    summary = front_summary(meta, records)
    out_dir = Path(output_dir) if output_dir else out_dir
    result = write_report(meta, records, out_dir, summary=summary,
                          target=pick_target(str(target), name), static=static)
    result.tables = write_tables(meta, records, out_dir, summary)
    return result
