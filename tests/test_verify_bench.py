"""The sample-efficiency benchmark's verified reading (benchmarks/_verified.py) on hand-made runs."""

from __future__ import annotations

import argparse

from benchmarks import _verified


def _run(method: str, rows: list[tuple[str, list[float] | None]]) -> dict:
    return {"task": "toy", "method": method, "seed": 0,
            "rows": [{"state": s, "steps": 270 if s == "COMPLETE" else 30, "values": v, "params": {}}
                     for s, v in rows]}


def test_checkpoint_fronts_follow_the_steps_spent() -> None:
    run = _run("auto", [("COMPLETE", [1.0, 3.0]), ("PRUNED", None), ("COMPLETE", [3.0, 1.0]),
                        ("COMPLETE", [0.5, 0.5])])
    fronts = _verified.checkpoint_fronts(run, budget=4 * 270, checkpoints=[0.25, 0.5, 0.6, 1.0])
    assert fronts == [(0.25, 270, [0]), (0.5, 300, [0]), (0.6, 570, [0, 2]), (1.0, 840, [3])]


def test_a_lucky_front_loses_its_lead_under_the_verified_reading() -> None:
    # "lucky" reaches a great raw point first, but retrained it is poor; "steady" is what it says
    lucky = _run("lucky", [("COMPLETE", [0.1, 0.1]), ("COMPLETE", [2.0, 2.0])])
    steady = _run("steady", [("COMPLETE", [3.0, 3.0]), ("COMPLETE", [0.5, 0.5])])
    saved = {"toy|lucky|0": {"0": [[2.9, 2.9], [3.1, 3.1], [3.0, 3.0]], "1": [[2.0, 2.0]] * 3},
             "toy|steady|0": {"0": [[3.0, 3.0]] * 3, "1": [[0.5, 0.5], [0.6, 0.4], [0.4, 0.6]]}}
    text = _verified.summarise([lucky, steady], saved, trials=2, methods=["lucky", "steady"],
                               checkpoints=[0.5, 1.0], k=3)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "not reached (0/1)" in rows["lucky"]  # its verified front never nears the reference
    assert "540 (2.0 trials; 1/1)" in rows["steady"]  # 95% at the end of its budget
    assert "| 810 |" in rows["steady"]  # verification: 1 front point x 3 seeds x 270 steps, beside it
    assert rows["lucky"].endswith("| 1 / 1 |")


def test_saved_draws_are_reused_and_only_the_missing_ones_retrained(tmp_path, monkeypatch) -> None:
    run = _run("auto", [("COMPLETE", [1.0, 3.0]), ("COMPLETE", [3.0, 1.0])])
    path = tmp_path / "runs.verified.json"
    path.write_text('{"toy|auto|0": {"0": [[1, 3], [1, 3], [1, 3]]}}')
    asked = []

    def fake_retrain(job):
        asked.append([n for n, _ in job[4]])
        return {"task": "toy", "method": "auto", "seed": 0, "draws": {"1": [[3, 1]] * 3}, "wall_s": 0.0}

    class Serial:
        def __init__(self, max_workers):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, jobs):
            return map(fn, jobs)

    monkeypatch.setattr(_verified, "retrain", fake_retrain)
    monkeypatch.setattr(_verified, "ProcessPoolExecutor", Serial)
    args = argparse.Namespace(verified_save=path, save=None, from_json=None, trials=2, checkpoints=[1.0],
                              verify_seeds=3, workers=1)
    saved = _verified.verify_runs([run], args)
    assert asked == [[1]]
    assert set(saved["toy|auto|0"]) == {"0", "1"}
    assert _verified.verify_runs([run], args) == saved and asked == [[1]]  # nothing left to retrain
