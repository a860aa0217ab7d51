"""The one place paretolab touches private internals of its dependencies (Optuna, torchjd).

Each use has no public API in the versions paretolab supports; keeping them here, each behind
one small function (:mod:`.optuna_internals`, :mod:`.torchjd_internals`), means a dependency
release that changes them breaks one module, and ``tests/test_compat.py`` names which internal
moved before any study runs into it.

Optuna: a trial's storage id (``Trial._trial_id``), the hook that lists a study's stale trials
(``RDBStorage._get_stale_trial_ids``) and its table models (``optuna.storages._rdb.models``).
torchjd: DWA's running sums (``_loss_sum``, ``_n_batches``, ``_previous_averages``), GradVac's
target similarities (``_phi_t``, ``_state_key``) and Nash-MTL's solver set-up
(``_init_optim_problem``), which a balancer's ``state_dict`` must save and restore.
"""
