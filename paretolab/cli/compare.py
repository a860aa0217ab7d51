"""``paretolab compare``: studies of the same objectives side by side (see :mod:`paretolab.compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paretolab.cli.app import Command, _escape, app, out, user_errors


@app.command(cls=Command)
@user_errors
def compare(
    targets: Annotated[list[str], typer.Argument(
        help="two or more studies: study directories, study files or storage URLs", show_default=False)],
    study: Annotated[list[str] | None, typer.Option(
        "--study", metavar="<name>", help="the study's name with a storage URL: once for all, or once per "
        "study")] = None,
    output: Annotated[Path, typer.Option("--out", help="the comparison page to write")] = Path("compare.html"),
) -> None:
    """Compare studies of the same objectives: hypervolume against one reference point, the
    training spent, dominated points, and a page with the fronts and attainment surfaces."""
    from paretolab.compare import compare as compare_studies
    from paretolab.report.compare_page import write_compare

    c = compare_studies(targets, study or [])
    table = Table(title=f"{len(c.studies)} studies against one reference point "
                  f"({', '.join(f'{v:.4g}' for v in c.ref_point)})", title_justify="left")
    for col in ("study", "trials", "steps", "time (s)", "front", "hypervolume", "dominated by another"):
        table.add_column(col, justify="left" if col in ("study", "dominated by another") else "right")
    for s in c.studies:
        hit = {n: by for n, by in s.dominated_by.items() if by}
        table.add_row(_escape(s.label), str(s.trials), str(s.steps), f"{s.seconds:.1f}", str(len(s.front)),
                      f"{s.hypervolume:.6g}", f"{len(hit)} of {len(s.front)}" + "".join(
                          f"\n trial {n}: {_escape(', '.join(by))}" for n, by in hit.items()))
    out.print(table)
    best = max(c.studies, key=lambda s: s.hypervolume)
    out.print(f"largest hypervolume: {_escape(best.label)}")
    if c.eaf_note:
        out.print(f"[dim]{_escape(c.eaf_note)}[/]")
    out.print(f"report: {_escape(str(write_compare(c, output)))}")
