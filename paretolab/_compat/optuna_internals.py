"""Optuna internals paretolab needs (no public API for them): see :mod:`paretolab._compat`."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a live trial (Optuna keeps it private; its number is not unique
    across the studies of one storage)."""
    return int(trial._trial_id)


class StaleTrialsStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage with a public hook on its list of stale trials: a subclass adds to
    what Optuna finds by overriding :meth:`more_stale_trial_ids`."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        return stale + [tid for tid in self.more_stale_trial_ids(study_id) if tid not in stale]

    def more_stale_trial_ids(self, study_id: int) -> list[int]:
        """Trial ids to fail as stale besides Optuna's own (none here)."""
        return []

    def running_without_heartbeat(self, study_id: int) -> set[int]:
        """The ids of the study's RUNNING trials that have no heartbeat row (one query on
        Optuna's own tables)."""
        from optuna.storages._rdb import models

        session = self.scoped_session()
        try:
            return {tid for (tid,) in session.query(models.TrialModel.trial_id)
                    .outerjoin(models.TrialHeartbeatModel,
                               models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                    .filter(models.TrialModel.study_id == study_id,
                            models.TrialModel.state == TrialState.RUNNING,
                            models.TrialHeartbeatModel.trial_id.is_(None))}
        finally:
            self.scoped_session.remove()
