"""GPU benchmark: training speed on CUDA against the CPU, one worker per GPU, and a command
trial's GPU.

(a) **Speed.** The built-in ``digits`` task trained by paretolab's own loop on the CPU and on
    ``cuda:0``, with the ``static`` balancer and a gradient-level one (``upgrad``): steps per
    second over the marginal ``--steps`` (the time of ``2*steps`` less the time of ``steps``, so
    set-up, data loading and CUDA start-up are left out, and reported apart), and the CUDA/CPU
    ratio. ``--hidden`` and ``--batch-size`` make the model and the batch bigger.
(b) **``workers: auto``.** A short study (``2 * GPUs`` function trials) with ``workers: auto``:
    one worker per visible GPU, each trial records its worker's pid, ``CUDA_VISIBLE_DEVICES``,
    how many GPUs it sees and its GPU's UUID. Checked: as many workers as GPUs, each worker on one
    GPU only, no two workers on the same GPU.
(c) **Command trial.** The same with a command trial: the program must get its worker's GPU in
    ``CUDA_VISIBLE_DEVICES``, see exactly one GPU, and that GPU's UUID must be the worker's.
(d) **Post-training speed.** The built-in ``posttrain`` task (``studies/posttrain.yaml``'s task
    and batch, GRPO: sampling, rewards, the policy and reference passes, the update): marginal
    steps per second on the CPU and on ``cuda:0`` over ``--posttrain-steps``, and the ratio.
(e) **Post-training workers.** A short ``posttrain`` study with ``workers: auto``: every trial
    completes on a GPU (one worker per GPU, as (b) checks), with its steps per second.

Without CUDA it says so in one line and runs (a) on the CPU only (exit 0; (d) and (e) are
skipped: their CPU part is ``posttrain_table(["cpu"], ...)``). On one H200 the
whole run is meant to take a few minutes at the defaults.

Run: ``PYTHONPATH=$PWD python -m benchmarks.bench_gpu [--steps 300] [--hidden 64] [--batch-size 64]
[--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
import torch
import yaml

from paretolab.records import load_records
from paretolab.runner import run_study
from paretolab.search_space import TrialConfig
from paretolab.spec import load_spec, parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trainer import train

ROOT = Path(__file__).resolve().parents[1]


# --- (a) speed ------------------------------------------------------------------------------

def digits_config(steps: int, hidden: int, batch_size: int, balancer: str) -> TrialConfig:
    """One digits training run of ``steps`` steps, evaluated once at its end."""
    text = (f"name: bench-gpu\ntask: {{ref: digits, params: {{hidden: {hidden}}}}}\nlosses: [ce, l1]\n"
            "objectives: [nll, {name: sparsity, direction: maximize}]\n"
            f"train: {{lr: 0.01, batch_size: {batch_size}}}\nbudget: {{trials: 1, steps: {steps}}}\n")
    checked = check_study(parse_spec(text, source=str(ROOT / "bench-gpu.yaml")), check_storage_reachable=False)
    spec = checked.spec
    return TrialConfig(weights={"ce": 0.5, "l1": 0.5}, balancer={"method": balancer, "settings": {}},
                       train=spec.train.model_dump(), task=checked.task_ref, task_params={"hidden": hidden},
                       loss_groups=checked.loss_groups, seed=0, steps=steps, eval_every=steps)


def timed_train(config: TrialConfig, device: str) -> float:
    start = time.perf_counter()
    train(config, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def speed(device: str, steps: int, hidden: int, batch_size: int, balancer: str,
          repeats: int = 3) -> tuple[float, float]:
    """(marginal steps per second, set-up seconds) of digits training on ``device``: the fastest
    of ``repeats`` runs of each length (the least disturbed by other load)."""
    timed_train(digits_config(2, hidden, batch_size, balancer), device)  # warm-up: imports, CUDA context
    short = min(timed_train(digits_config(steps, hidden, batch_size, balancer), device)
                for _ in range(repeats))
    long = min(timed_train(digits_config(2 * steps, hidden, batch_size, balancer), device)
               for _ in range(repeats))
    marginal = long - short
    if marginal <= 0:  # the machine's load swamped the difference
        return float("nan"), short
    return steps / marginal, max(0.0, short - marginal)


def speed_table(devices: Sequence[str], steps: int, hidden: int, batch_size: int,
                balancers: Sequence[str], repeats: int = 3) -> dict[tuple[str, str], float]:
    print(f"## (a) digits training speed: hidden {hidden}, batch {batch_size}, "
          f"marginal {steps} steps (time of {2 * steps} less time of {steps}, fastest of {repeats})")
    rates: dict[tuple[str, str], float] = {}
    for balancer in balancers:
        for device in devices:
            rate, setup = speed(device, steps, hidden, batch_size, balancer, repeats)
            rates[balancer, device] = rate
            print(f"{balancer:8s} {device:7s} {rate:9.1f} steps/s   set-up {setup:.2f} s")
        if len(devices) == 2:
            print(f"{balancer:8s} ratio   {rates[balancer, devices[1]] / rates[balancer, devices[0]]:9.2f}x "
                  f"({devices[1]} / {devices[0]})")
    return rates


# --- (d) posttrain: GRPO steps on CUDA against the CPU ----------------------------------------

def posttrain_config(steps: int, params: dict | None = None, batch_size: int | None = None) -> TrialConfig:
    """``studies/posttrain.yaml``'s task and training settings, equal weights, ``steps`` GRPO steps."""
    spec = check_study(load_spec(ROOT / "studies" / "posttrain.yaml"), check_storage_reachable=False)
    names = list(spec.loss_groups)
    train_settings = {**spec.spec.train.model_dump(), "lr": 1e-3}
    if batch_size:
        train_settings["batch_size"] = batch_size
    return TrialConfig(weights={n: 1 / len(names) for n in names}, balancer={"method": "static", "settings": {}},
                       train=train_settings, task=spec.task_ref,
                       task_params={**spec.spec.task.params, **(params or {})},
                       loss_groups=spec.loss_groups, seed=0, steps=steps, eval_every=steps)


def posttrain_table(devices: Sequence[str], steps: int, params: dict | None = None,
                    batch_size: int | None = None, repeats: int = 3) -> dict[str, float]:
    """Marginal GRPO steps per second of the posttrain task on each device (as in (a)); the
    first run pre-trains the starting model when it is not cached (reported as set-up)."""
    print(f"## (d) posttrain GRPO speed: marginal {steps} steps (time of {2 * steps} less time of "
          f"{steps}, fastest of {repeats}), the study file's task and batch")
    start = time.perf_counter()
    timed_train(posttrain_config(1, params, batch_size), "cpu")  # pre-trains once if not cached
    print(f"starting checkpoint ready in {time.perf_counter() - start:.1f} s (pre-training if not cached)")
    rates: dict[str, float] = {}
    for device in devices:
        timed_train(posttrain_config(1, params, batch_size), device)  # warm-up: CUDA context
        short = min(timed_train(posttrain_config(steps, params, batch_size), device) for _ in range(repeats))
        long = min(timed_train(posttrain_config(2 * steps, params, batch_size), device) for _ in range(repeats))
        rates[device] = steps / (long - short) if long > short else float("nan")
        print(f"posttrain {device:7s} {rates[device]:9.2f} steps/s   set-up {max(0.0, 2 * short - long):.2f} s")
    if len(devices) == 2:
        print(f"posttrain ratio   {rates[devices[1]] / rates[devices[0]]:9.2f}x ({devices[1]} / {devices[0]})")
    return rates


# --- (b), (c) one worker per GPU -------------------------------------------------------------

FUNCTION = '''\
import json, os
import torch


def train(trial):
    device = torch.device(trial.device)
    x = torch.randn(1024, 1024, device=device)
    for _ in range(50):  # some work, so trials overlap across workers
        x = torch.tanh(x @ x / 32)
    torch.cuda.synchronize(device)
    info = {"pid": os.getpid(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "count": torch.cuda.device_count(), "device": trial.device,
            "uuid": str(torch.cuda.get_device_properties(device).uuid)}
    (trial.dir / "gpu.json").write_text(json.dumps(info))
    return {"m1": trial.weights["a"], "m2": trial.weights["b"]}
'''

COMMAND = '''\
import json, os
import torch
from paretolab import client


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


# the program's parent is its supervisor, whose parent is the worker
info = {"pid": parent_of(os.getppid()), "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "count": torch.cuda.device_count(), "uuid": str(torch.cuda.get_device_properties(0).uuid)}
with open(os.path.join(client.trial_dir(), "gpu.json"), "w") as f:
    json.dump(info, f)
weights = client.config()["weights"]
client.report(1, m1=weights["a"], m2=weights["b"])
'''


def gpu_uuids() -> dict[str, str]:
    """The machine's GPUs as this process sees them: ``CUDA_VISIBLE_DEVICES`` entry -> UUID."""
    from paretolab.devices import visible_gpus

    return {gid: str(torch.cuda.get_device_properties(i).uuid) for i, gid in enumerate(visible_gpus("cuda"))}


def run_gpu_study(root: Path, name: str, trainer: str, trials: int) -> list[dict]:
    """A ``workers: auto`` study; each trial's ``gpu.json``."""
    path = root / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        trainer: {trainer}
        losses: [a, b]
        objectives: [m1, m2]
        search: {{weights: simplex, balancer: [static]}}
        budget: {{trials: {trials}, steps: 1}}
        device: auto
        workers: auto
        seed: 0
        """))
    checked = check_study(load_spec(path))
    start = time.perf_counter()
    run_study(checked, progress=False, report_every=0)
    wall = time.perf_counter() - start
    spec = checked.spec
    records = load_records(optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url)))
    states = [r.state for r in records]
    print(f"{name}: {trials} trials in {wall:.1f} s; states {sorted(set(states))}")
    if states.count("COMPLETE") != trials:
        for r in records:
            if r.failure is not None:
                print(f"  trial {r.number} failed: {r.failure.reason}")
    seen = []
    for r in records:
        f = spec.study_dir / "trials" / str(r.number) / "gpu.json"
        if f.is_file():
            seen.append({"trial": r.number, **json.loads(f.read_text())})
    return seen


def posttrain_workers(root: Path, trials: int, steps: int, gpus: int) -> bool:
    """A posttrain study with ``workers: auto``: every trial completes on a GPU; the trials'
    devices and their GRPO steps per second (trial wall time, evaluation included)."""
    study = yaml.safe_load((ROOT / "studies" / "posttrain.yaml").read_text())
    study.update(name="gpu-posttrain", workers="auto", device="auto",
                 budget={"trials": trials, "steps": steps, "eval_every": steps})
    path = root / "gpu-posttrain.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    checked = check_study(load_spec(path))
    start = time.perf_counter()
    run_study(checked, progress=False, report_every=0)
    wall = time.perf_counter() - start
    spec = checked.spec
    records = load_records(optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url)))
    done = [r for r in records if r.state == "COMPLETE"]
    for r in done:
        rate = steps / r.result.wall_time_s if r.result.wall_time_s else float("nan")
        print(f"  trial {r.number}: {r.result.device}, {rate:.2f} steps/s")
    on_gpu = all(str(r.result.device).startswith("cuda") for r in done)
    print(f"  {len(done)}/{trials} complete in {wall:.1f} s on {gpus} GPU(s); all on a GPU: {on_gpu}")
    return len(done) == trials and on_gpu


def check_workers(seen: list[dict], uuids: dict[str, str]) -> bool:
    """Print what each trial saw; True when each trial saw exactly the one GPU its
    ``CUDA_VISIBLE_DEVICES`` names and each worker kept to one GPU of its own."""
    ok = bool(seen)
    for s in seen:
        own = uuids.get(str(s["visible"]))
        right = s["count"] == 1 and own is not None and own == s["uuid"]
        ok &= right
        print(f"  trial {s['trial']}: pid {s['pid']} CUDA_VISIBLE_DEVICES={s['visible']} sees {s['count']} "
              f"GPU(s), uuid {s['uuid'][:13]}... {'ok' if right else 'WRONG GPU'}")
    gpus_of: dict[int, set[str]] = {}
    for s in seen:
        gpus_of.setdefault(s["pid"], set()).add(s["uuid"])
    one_each = all(len(g) == 1 for g in gpus_of.values())
    used = [next(iter(g)) for g in gpus_of.values()]
    distinct = len(set(used)) == len(used)
    print(f"  workers {len(gpus_of)} for {len(uuids)} GPU(s); each on one GPU: {one_each}; "
          f"no GPU shared by two workers: {distinct}")
    return ok and one_each and distinct and len(gpus_of) <= len(uuids)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="marginal training steps per measurement")
    parser.add_argument("--hidden", type=int, default=64, help="digits MLP width")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--balancers", default="static,upgrad")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each length (the fastest counts)")
    parser.add_argument("--posttrain-steps", type=int, default=20,
                        help="(d) marginal GRPO steps of the posttrain task (0: skip (d))")
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    args = parser.parse_args(argv)
    balancers = [b for b in args.balancers.split(",") if b]
    cuda = torch.cuda.is_available()
    if not cuda:
        print("no CUDA device: running (a) on the CPU only; (b) and (c) need a GPU")
    if args.dry_run:
        devices = ["cpu", "cuda:0"] if cuda else ["cpu"]
        print(f"(a) digits, hidden {args.hidden}, batch {args.batch_size}: {args.steps} and {2 * args.steps} "
              f"steps x {args.repeats} on {', '.join(devices)}, balancers {', '.join(balancers)}")
        if cuda:
            n = torch.cuda.device_count()
            print(f"(b) {2 * n} function trials, (c) {2 * n} command trials, workers: auto on {n} GPU(s)")
            if args.posttrain_steps:
                print(f"(d) posttrain: {args.posttrain_steps} and {2 * args.posttrain_steps} GRPO steps x "
                      f"{args.repeats} on cpu, cuda:0; (e) {2 * n} posttrain trials, workers: auto")
        return 0
    if not cuda:
        speed_table(["cpu"], args.steps, args.hidden, args.batch_size, balancers, args.repeats)
        return 0
    print(f"GPUs: {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    speed_table(["cpu", "cuda:0"], args.steps, args.hidden, args.batch_size, balancers, args.repeats)
    if args.posttrain_steps:
        posttrain_table(["cpu", "cuda:0"], args.posttrain_steps, repeats=args.repeats)
    uuids = gpu_uuids()
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "gpu_train.py").write_text(FUNCTION)
        (root / "gpu_script.py").write_text(COMMAND)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            print(f"## (b) workers: auto, function trials ({len(uuids)} GPU(s))")
            ok &= check_workers(run_gpu_study(root, "gpu-function", "{function: gpu_train.py:train}",
                                              2 * len(uuids)), uuids)
            print(f"## (c) workers: auto, command trials ({len(uuids)} GPU(s))")
            command = '{command: ["{python}", gpu_script.py]}'
            ok &= check_workers(run_gpu_study(root, "gpu-command", command, 2 * len(uuids)), uuids)
            if args.posttrain_steps:
                print(f"## (e) workers: auto, posttrain trials ({len(uuids)} GPU(s))")
                ok &= posttrain_workers(root, 2 * len(uuids), args.posttrain_steps, len(uuids))
        finally:
            os.chdir(cwd)
    print("GPU checks: " + ("all passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
