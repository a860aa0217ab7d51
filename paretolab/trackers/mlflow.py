"""MLflow: one run per finished trial (params, step curves, final objectives) and a front run.

Uses MLflow's own client (``MlflowClient``), against a server URL or a local store
(``sqlite:///mlflow.db``: MLflow 3 keeps its ``./mlruns`` file store in maintenance mode). A
trial's run carries the tags ``paretolab.study`` and ``paretolab.trial``, so a trial already
logged (a resumed study, a second worker reading the same trial) is not logged twice; at the
end, front trials get ``paretolab.on_front = true`` and a run named ``front`` holds the
hypervolume and the front's trial numbers.
"""

from __future__ import annotations

import time
from typing import Any

import mlflow  # noqa: F401 - ImportError here: the library is not installed
from mlflow import MlflowClient

from paretolab.records import StudyMeta, TrialRecord
from paretolab.trackers import trial_curves, trial_params, trial_values

MAX_PARAM = 500  # characters MLflow keeps of a param value (it rejects longer ones)


class MlflowTracker:
    """Logs a study's trials into one MLflow experiment."""

    def __init__(self, meta: StudyMeta, tracking_uri: str, experiment: str):
        self.meta = meta
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def _runs(self, trial: int | str) -> list[Any]:
        study = self.meta.name.replace("'", "\\'")
        return self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`paretolab.study` = '{study}' and "
            f"tags.`paretolab.trial` = '{trial}'")

    def on_trial(self, record: TrialRecord) -> None:
        if record.state not in ("COMPLETE", "PRUNED", "FAIL") or self._runs(record.number):
            return
        tags = {"paretolab.study": self.meta.name, "paretolab.trial": str(record.number),
                "paretolab.state": record.state}
        run = self.client.create_run(self.experiment_id, run_name=f"trial {record.number}", tags=tags)
        run_id = run.info.run_id
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        params = [Param(k, str(v)[:MAX_PARAM]) for k, v in trial_params(record).items()]
        steps, curves = trial_curves(record)
        metrics = [Metric(f"curve.{name}", value, now, step)
                   for name, values in curves.items() for step, value in zip(steps, values)]
        last = max(steps) if steps else 0
        metrics += [Metric(k, v, now, last) for k, v in trial_values(record, self.meta).items()]
        for i in range(0, len(params), 100):  # MLflow's limits per batch call
            self.client.log_batch(run_id, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])
        self.client.set_terminated(run_id, "FINISHED" if record.state != "FAIL" else "FAILED")

    def on_study_end(self, front: list[TrialRecord], hypervolume: float) -> None:
        numbers = sorted(r.number for r in front)
        for number in numbers:
            for run in self._runs(number):
                self.client.set_tag(run.info.run_id, "paretolab.on_front", "true")
        for old in self._runs("front"):
            self.client.delete_run(old.info.run_id)
        run = self.client.create_run(self.experiment_id, run_name="front", tags={
            "paretolab.study": self.meta.name, "paretolab.trial": "front",
            "paretolab.front_trials": ",".join(map(str, numbers))[:5000]})
        self.client.log_metric(run.info.run_id, "hypervolume", float(hypervolume))
        self.client.log_metric(run.info.run_id, "front_size", float(len(numbers)))
        self.client.set_terminated(run.info.run_id)
