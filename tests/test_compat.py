"""The private internals of Optuna and torchjd that paretolab uses (all in paretolab._compat):
each test fails, naming the internal, when a dependency release moves or changes it."""

from __future__ import annotations

import importlib.util
import warnings

import optuna
import pytest
import torch

from paretolab._compat import optuna_internals as oi
from paretolab._compat import torchjd_internals as ti


def test_optuna_trial_id_is_the_storages_id_of_the_trial() -> None:
    storage = optuna.storages.RDBStorage("sqlite:///:memory:")
    optuna.create_study(study_name="other", storage=storage).ask()  # ids and numbers now differ
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    study_id = storage.get_study_id_from_name("s")
    assert oi.trial_id(trial) == storage.get_trial_id_from_study_id_trial_number(study_id, 0), \
        "Optuna's Trial._trial_id changed"
    assert storage.get_trial(oi.trial_id(trial)).number == trial.number == 0


class _FailSilent(oi.StaleTrialsStorage):
    def more_stale_trial_ids(self, study_id: int) -> list[int]:
        return sorted(self.running_without_heartbeat(study_id))


def test_optuna_stale_trial_hook_and_table_models_still_work() -> None:
    storage = _FailSilent("sqlite:///:memory:", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="s", storage=storage)
    beating, silent = study.ask(), study.ask()
    storage.record_heartbeat(oi.trial_id(beating))
    study_id = storage.get_study_id_from_name("s")
    assert storage.running_without_heartbeat(study_id) == {oi.trial_id(silent)}, \
        "optuna.storages._rdb.models (TrialModel, TrialHeartbeatModel) changed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states == {beating.number: optuna.trial.TrialState.RUNNING,
                      silent.number: optuna.trial.TrialState.FAIL}, \
        "Optuna no longer asks RDBStorage._get_stale_trial_ids for the stale trials"


def test_torchjd_dwa_running_sums_round_trip() -> None:
    from torchjd.scalarization import DWA

    dwa = DWA(temperature=2.0)
    for _ in range(3):
        dwa(torch.tensor([1.0, 2.0]))
    assert ti.dwa_batches(dwa) == 3, "torchjd's DWA._n_batches changed"
    dwa.step()
    dwa(torch.tensor([0.5, 1.0]))
    state = ti.dwa_state(dwa)
    fresh = DWA(temperature=2.0)
    fresh.reset()
    ti.load_dwa_state(fresh, state)
    assert ti.dwa_state(fresh)["n_batches"] == 1
    assert torch.equal(fresh(torch.tensor([0.3, 0.7])), dwa(torch.tensor([0.3, 0.7]))), \
        "torchjd's DWA keeps state beyond _loss_sum, _n_batches and _previous_averages"


def test_torchjd_gradvac_targets_round_trip() -> None:
    from torchjd.aggregation import GradVacWeighting

    gramian = torch.tensor([[1.0, -0.5], [-0.5, 2.0]])
    weighting = GradVacWeighting(beta=0.5)
    assert ti.gradvac_targets(weighting) is None
    weighting(gramian)
    phi = ti.gradvac_targets(weighting)
    assert isinstance(phi, torch.Tensor), "torchjd's GradVacWeighting._phi_t changed"
    fresh = GradVacWeighting(beta=0.5)
    fresh.reset()
    ti.load_gradvac_targets(fresh, phi.clone())
    assert torch.allclose(fresh(gramian), weighting(gramian)), \
        "torchjd's GradVacWeighting keeps state beyond _phi_t and _state_key"


@pytest.mark.skipif(importlib.util.find_spec("cvxpy") is None, reason="needs paretolab[solvers]")
def test_torchjd_nash_mtl_problem_can_be_rebuilt() -> None:
    from torchjd.aggregation import NashMTL

    weighting = NashMTL(n_tasks=2).weighting
    assert callable(getattr(weighting, "_init_optim_problem", None)), \
        "torchjd's Nash-MTL weighting has no _init_optim_problem any more"
    ti.rebuild_nash_mtl_problem(weighting)
