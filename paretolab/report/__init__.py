"""The study report: one self-contained offline HTML page (Plotly), plus optional static figures.

``write_report`` turns a study's records into ``report.html``. Finding a study from what the user
typed is :mod:`paretolab.locate`'s job, and writing the report with the tables is
``paretolab.runner.finalize``'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from paretolab.errors import UserError
from paretolab.locate import StudyNotFound as ReportError
from paretolab.locate import command_target, locate
from paretolab.records import FrontSummary, StudyMeta, TrialRecord
from paretolab.report.data import ReportData, knee_point, trial_logs

__all__ = ["ReportError", "ReportResult", "knee_point", "write_report"]


@dataclass
class ReportResult:
    """Where the report went, and what happened to the static export if asked for."""

    html: Path
    static: list[Path] = field(default_factory=list)
    static_message: str | None = None
    tables: tuple[Path, Path] | None = None


def _folder_target(study_dir: Path) -> str:
    """How suggested commands name a study by its folder, when the caller gave no better name."""
    try:
        return locate(str(study_dir)).command
    except UserError:
        return command_target(str(study_dir))


def write_report(meta: StudyMeta, records: list[TrialRecord], study_dir: Path, *,
                 summary: FrontSummary | None = None, target: str | None = None,
                 static: bool = False) -> ReportResult:
    """Write ``study_dir/report.html`` atomically (and each figure as PNG + SVG when ``static``).

    ``target`` is how the study is named on the command line; it goes into the ``pick`` commands.
    """
    from paretolab.report.page import build_page

    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    data = ReportData.build(meta, records, summary, target or _folder_target(study_dir))
    data.logs = trial_logs(study_dir, records)
    from paretolab.analyze import load_analyses

    data.analyses = load_analyses(study_dir)
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


