"""Per-trial overhead of a command trial: paretolab's run (trial.json, placeholders, its own
process group, logs kept, the metrics file tailed) against running the same script directly.

The script reports ``--steps`` metric lines (through ``paretolab.client``) and sleeps
``--seconds`` in total, standing for training. Both arms start the same interpreter on the same
script; the difference of the means is paretolab's overhead per trial, and the ratio says what it
costs a trial of that length (goal: under 1 s, or under 2 % for trials of a minute).

Run: ``PYTHONPATH=$PWD python -m benchmarks.bench_command_overhead [--repeats 10] [--seconds 1]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paretolab.trials.command import run_command
from paretolab.trials.context import ReportLog

SCRIPT = """\
import sys, time
from paretolab import client
steps, seconds = int(sys.argv[1]), float(sys.argv[2])
for step in range(1, steps + 1):
    time.sleep(seconds / steps)
    client.report(step, loss=1.0 / step, error=0.5)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0, help="the script's own run time")
    parser.add_argument("--steps", type=int, default=50, help="metric lines it reports")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    os.environ["PYTHONPATH"] = str(root)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.py"
        script.write_text(SCRIPT)
        argv = [sys.executable, str(script), str(args.steps), str(args.seconds)]
        direct, managed = [], []
        for i in range(args.repeats):  # interleaved, so machine load hits both arms alike
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True)
            direct.append(time.perf_counter() - start)
            config = {"trial": i, "weights": {"a": 0.5}, "params": {}, "seed": i, "steps": args.steps}
            log = ReportLog(["loss"])
            start = time.perf_counter()
            run_command(argv, config, Path(tmp) / "trials" / str(i), log)
            managed.append(time.perf_counter() - start)
            assert log.curves["step"][-1] == args.steps
    d, m = statistics.mean(direct), statistics.mean(managed)
    print(f"script alone  {d:.3f} s (median {statistics.median(direct):.3f})")
    print(f"as a trial    {m:.3f} s (median {statistics.median(managed):.3f})")
    print(f"overhead      {m - d:+.3f} s per trial; ratio {m / d:.3f}; "
          f"for a 60 s trial {100 * (m - d) / 60:.2f} %")


if __name__ == "__main__":
    main()
