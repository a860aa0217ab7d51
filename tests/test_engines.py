"""Cluster engines without a cluster: the ``workers: {engine: ray}`` form, the storage a
multi-node run refuses, what a missing extra says, and Slurm job arrays through submitit (its
sbatch script, and its local executor running real jobs). Ray itself: test_engines_ray.py."""

from __future__ import annotations

import sys

import optuna
import pytest

from paretolab.engines.errors import WorkerEnd
from paretolab.errors import StudyStopped
from paretolab.records import trial_attrs
from paretolab.spec import load_spec
from paretolab.spec.checks import check_study
from paretolab.spec.engines import RayWorkers, is_this_machine, ray_workers

from conftest import cli, write

STUDY = """\
name: eng
task: toy
objectives: [loss1, loss2]
train: {lr: 0.05}
budget: {trials: 3, steps: 40}
seed: 3
"""


def test_ray_workers_are_a_typed_form_of_workers_and_n_and_auto_stay(tmp_path) -> None:
    ray = load_spec(write(tmp_path, STUDY + "workers: {engine: ray, address: auto, count: 2, "
                          "per_worker: {num_gpus: 1, num_cpus: 2}}\n"))
    assert ray.workers == RayWorkers(engine="ray", address="auto", count=2,
                                     per_worker={"num_gpus": 1, "num_cpus": 2})
    assert load_spec(write(tmp_path, STUDY + "workers: 3\n")).workers == 3
    assert load_spec(write(tmp_path, STUDY + "workers: auto\n")).workers == "auto"


@pytest.mark.parametrize("workers, says", [
    ("{engine: ray, cnt: 2}", "workers: cnt: Extra inputs are not permitted"),
    ("{engine: dask}", "unknown engine 'dask'"),
    ("{engine: ray, per_worker: {num_gpus: -1}}", "per_worker.num_gpus: Input should be greater than"),
])
def test_a_wrong_ray_workers_mapping_is_one_line_naming_the_key(tmp_path, workers, says) -> None:
    out = cli("validate", str(write(tmp_path, STUDY + f"workers: {workers}\n")), "--no-run", code=2)
    assert says in out and "Traceback" not in out and len(out.strip().splitlines()) <= 2


def test_validate_refuses_sqlite_for_a_ray_cluster_on_another_machine(tmp_path) -> None:
    remote = write(tmp_path, STUDY + "workers: {engine: ray, address: '10.255.255.1:6379', count: 2}\n")
    out = cli("validate", str(remote), "--no-run", code=2)
    assert "an SQLite storage is a file on one machine: workers on other nodes cannot share it" in out
    assert "postgresql" in out
    cli("validate", str(write(tmp_path, STUDY + "workers: {engine: ray, address: '127.0.0.1:6379'}\n")), "--no-run")


def test_this_machine_is_its_loopback_and_its_own_addresses_only() -> None:
    assert is_this_machine("127.0.0.1") and is_this_machine("localhost")
    assert not is_this_machine("10.255.255.1") and not is_this_machine("no-such-host.invalid")
    multi = {a: RayWorkers(engine="ray", address=a).multi_node for a in
             ("local", "127.0.0.1:6379", "ray://localhost:10001", "auto", "10.255.255.1:6379")}
    # auto: whatever cluster this machine joined, checked once connected (its node count)
    assert multi == {"local": False, "127.0.0.1:6379": False, "ray://localhost:10001": False,
                     "auto": None, "10.255.255.1:6379": True}


def test_run_ray_flag_keeps_the_files_per_worker_and_takes_the_count() -> None:
    base = RayWorkers(engine="ray", count=4, per_worker={"num_cpus": 3})
    assert ray_workers(base, "10.0.0.2:6379", 2) == base.model_copy(update={"address": "10.0.0.2:6379",
                                                                            "count": 2})
    assert ray_workers(3, "auto", None).count == 3 and ray_workers("auto", "auto", None).count == 1
    with pytest.raises(ValueError, match="not auto"):
        ray_workers(1, "auto", "auto")


def test_run_flags_choose_the_engine(tmp_path) -> None:
    from paretolab.cli.study import _engine

    ray = load_spec(write(tmp_path, STUDY + "workers: {engine: ray, address: 'h:1', count: 4}\n"))
    assert _engine(ray, 2, None) == ray.workers.model_copy(update={"count": 2})  # the file's cluster
    assert _engine(ray, None, None) is None  # the file's workers, as run_study reads them
    local = load_spec(write(tmp_path, STUDY + "workers: 3\n"))
    assert _engine(local, 2, None) == 2 and _engine(local, None, "auto").count == 3


def test_ray_engine_without_ray_says_which_extra_installs_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    monkeypatch.chdir(tmp_path)
    out = cli("run", str(write(tmp_path, STUDY)), "--ray", "local", "--no-progress", code=2)
    assert "needs ray, which is not installed" in out and "pip install 'paretolab[ray]'" in out
    assert "Traceback" not in out and not (tmp_path / "reports" / "eng" / "study.db").exists()


def test_a_remote_workers_user_error_is_raised_again_as_its_own_class() -> None:
    end = WorkerEnd.from_error("ray-1", StudyStopped("the last 5 trials failed", hint="fix the task"))
    assert end.code == 2
    with pytest.raises(StudyStopped, match="the last 5 trials failed") as raised:
        end.raise_error()
    assert raised.value.hint == "fix the task"
    WorkerEnd("ray-0", 0).raise_error()  # nothing to raise


# --- Slurm -----------------------------------------------------------------------------------

def test_slurm_dry_run_prints_the_job_array_script(tmp_path, monkeypatch) -> None:
    pytest.importorskip("submitit")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("paretolab.storage.check_storage", lambda url: None)  # no server needed
    path = write(tmp_path, STUDY + "storage: postgresql+psycopg://u:p@db-host/studies\n")
    out = cli("submit", str(path), "--slurm", "partition=gpu,gpus_per_task=1,time=90", "--workers", "3",
              "--dry-run")
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1",
                 "#SBATCH --time=90", "#SBATCH --job-name=paretolab-eng", "-m submitit.core._submit"):
        assert line in out, out
    assert not (tmp_path / "reports" / "eng").exists()  # nothing submitted, nothing created


def test_slurm_refuses_sqlite_and_unknown_settings_in_one_line(tmp_path, monkeypatch) -> None:
    pytest.importorskip("submitit")
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, STUDY)
    out = cli("submit", str(path), "--slurm", "partition=gpu", "--dry-run", code=2)
    assert "an SQLite storage is a file on one machine" in out and "Slurm jobs run on any node" in out
    out = cli("submit", str(path), "--slurm", "gpu_per_task=1", "--cluster", "local", "--dry-run", code=2)
    assert "unknown setting 'gpu_per_task'" in out and "did you mean 'gpus_per_task'?" in out
    out = cli("submit", str(path), "--slurm", "partition", "--dry-run", code=2)
    assert "key=value" in out


def test_slurm_without_submitit_says_which_extra_installs_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)
    monkeypatch.chdir(tmp_path)
    out = cli("submit", str(write(tmp_path, STUDY)), "--slurm", "partition=gpu", "--cluster", "local",
              "--dry-run", code=2)
    assert "pip install 'paretolab[slurm]'" in out and "Traceback" not in out


@pytest.mark.slow  # starts two job processes
def test_slurm_job_array_on_submitits_local_executor_reaches_the_exact_budget(tmp_path, monkeypatch) -> None:
    pytest.importorskip("submitit")
    from paretolab.engines.slurm import submit_workers

    monkeypatch.chdir(tmp_path)
    checked = check_study(load_spec(write(tmp_path, STUDY)))
    submitted = submit_workers(checked, {"partition": "gpu", "gpus_per_task": 1}, 2, cluster="local")
    ends = [job.result() for job in submitted.jobs]
    submitted.jobs.clear()
    assert [e.code for e in ends] == [0, 0]
    study = optuna.load_study(study_name="eng", storage=checked.spec.storage_url)
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3  # the budget, no more
    labels = {str(trial_attrs(t)["worker"]) for t in trials}
    assert all(label.startswith("slurm-") for label in labels), labels
    assert {e.label for e in ends} >= labels
    assert (tmp_path / "reports" / "eng" / "slurm").is_dir()  # the jobs' own logs
