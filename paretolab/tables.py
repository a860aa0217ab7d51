"""``trials.csv`` and ``front.csv``: every trial, and the constraint-aware front, as tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary
from paretolab.spreadsheet import safe_frame


def trials_frame(meta: StudyMeta, records: list[TrialRecord],
                 summary: FrontSummary | None = None) -> pd.DataFrame:
    """One row per trial: objectives, feasibility, front membership, weights, settings, timing."""
    from paretolab.verification import verification

    summary = summary or front_summary(meta, records)
    front = set(summary.numbers)
    check = verification(meta, records)
    rows = []
    for r in records:
        cfg = r.config
        row: dict = {"trial": r.number, "state": r.state}
        for i, name in enumerate(meta.objectives):
            row[name] = r.values[i] if r.values is not None else r.metrics.get(name)
        row["feasible"] = r.feasible if r.state == "COMPLETE" else None
        row["total_violation"] = r.total_violation if r.state == "COMPLETE" else None
        row["on_front"] = r.number in front
        # identical front points: one point, its trials listed (front.csv keeps the first row)
        row["front_point_trials"] = " ".join(map(str, summary.point_of(r.number))) if r.number in front else None
        st = check.stats.get(r.number)
        for i, name in enumerate(meta.objectives):  # over the configuration's seeds (verify)
            row[f"mean:{name}"] = float(st.mean[i]) if st is not None else None
            row[f"ci:{name}"] = float(st.ci[i]) if st is not None and st.n > 1 else None
        row["repeats"] = st.repeats if st is not None else None
        repeat = r.repeat
        row["repeat_of"] = repeat.of if repeat is not None else None
        link = r.one_run  # one-run studies: "run" (the training) or "point" (one of its preferences)
        if link is not None:
            row["one_run"], row["run"] = link.role, link.run
        row["verdict"] = check.labels.get(r.number)
        row["p_dominated"] = check.p_dominated.get(r.number)
        row["on_verified_front"] = r.number in check.front
        for c, v in r.violations.items():
            row[f"violation:{c}"] = v
        for k, v in (cfg.get("weights") or {}).items():
            row[f"w:{k}"] = v
        bal = cfg.get("balancer") or {}
        row["balancer"] = bal.get("method")
        row["balancer_settings"] = json.dumps(bal.get("settings") or {}, sort_keys=True)
        for k, v in r.knobs.items():
            row[f"param:{k}"] = v
        for k, v in r.metrics.items():
            if k not in meta.objectives:
                row[f"metric:{k}"] = v
        row["duration_s"] = r.duration_s
        result = r.result
        row["train_time_s"] = result.wall_time_s
        row["device"] = result.device
        row["seed"] = cfg.get("seed")
        row["failure"] = r.failure.reason if r.failure else None
        rows.append(row)
    return pd.DataFrame(rows)


def front_frame(meta: StudyMeta, trials: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``trials`` on the front, sorted by the first objective."""
    if trials.empty:
        return trials
    front = trials[trials["on_front"]].copy()
    if "front_point_trials" in front:  # one row per point: its first trial, listing the others
        first = front["front_point_trials"].astype(str).str.split(" ").str[0]
        front = front[front["trial"].astype(str) == first]
    return front.sort_values(meta.objectives[0], ascending=meta.directions[0] == "minimize")


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``path`` whole or not at all; a failed write (a full disk) leaves no ``.tmp`` behind.
    Text cells are neutralised for spreadsheets (:mod:`paretolab.spreadsheet`)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        safe_frame(frame).to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_tables(meta: StudyMeta, records: list[TrialRecord], study_dir: Path,
                 summary: FrontSummary | None = None) -> tuple[Path, Path]:
    """Write trials.csv and front.csv atomically (a crash never leaves half a file)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    trials = trials_frame(meta, records, summary)
    paths = study_dir / "trials.csv", study_dir / "front.csv"
    _atomic_csv(trials, paths[0])
    _atomic_csv(front_frame(meta, trials), paths[1])
    return paths
