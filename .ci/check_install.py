"""CI: check an installed paretolab (not the source tree) with its `solvers` extra.

Run with the Python of a fresh venv where `pip install '.[solvers]'` ran with the pip that
Python ships (no upgrade): an extra spelled differently from how a dependency publishes it
(torchjd's `nash-mtl`) installs nothing with that pip and leaves `nashmtl` without ECOS. Every
balancer module must import, the solvers must import, and no registered balancer may miss a
dependency. Exits 1 with one line per problem.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

problems: list[str] = []
here = Path(__file__).resolve().parents[1]

import paretolab  # noqa: E402
import paretolab.balancers  # noqa: E402

package = Path(paretolab.__file__).resolve().parent
if here in package.parents:
    problems.append(f"paretolab imported from the source tree ({package}), not from the install")
if not (package / "py.typed").is_file():
    problems.append(f"{package}/py.typed is not installed")

for module in pkgutil.walk_packages(paretolab.balancers.__path__, "paretolab.balancers."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:  # noqa: BLE001 - reported
        problems.append(f"import {module.name}: {type(exc).__name__}: {exc}")

for solver in ("cvxpy", "ecos", "clarabel"):
    try:
        importlib.import_module(solver)
    except Exception as exc:  # noqa: BLE001 - reported
        problems.append(f"import {solver}: {type(exc).__name__}: {exc}")

try:  # torchjd's solver-backed aggregators run (ECOS for Nash-MTL, Clarabel for CAGrad)
    import warnings

    import torch
    from torchjd.aggregation import CAGrad, NashMTL

    jacobian = torch.tensor([[1.0, 0.5, -1.0], [-0.8, 0.3, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for aggregator in (CAGrad(c=0.5), NashMTL(n_tasks=2)):
            if not torch.isfinite(aggregator(jacobian)).all():
                problems.append(f"torchjd {type(aggregator).__name__} gave a non-finite direction")
except Exception as exc:  # noqa: BLE001 - reported
    problems.append(f"torchjd CAGrad / NashMTL: {type(exc).__name__}: {exc}")

for name in paretolab.balancers.available():
    missing = paretolab.balancers.get_balancer_class(name).missing_dependencies()
    if missing:
        problems.append(f"balancer {name} misses {', '.join(missing)}")

for line in problems:
    print(f"check_install: {line}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check_install: paretolab {paretolab.__version__} from {package}: "
      f"{len(paretolab.balancers.available())} balancers, solvers importable, py.typed shipped")
