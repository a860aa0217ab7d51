"""Everything paretolab stores in Optuna storage, and reading it back.

The only reader and writer of study and trial attributes: :mod:`~paretolab.records.stored` is
the trial format (typed start, result, rung and failure records, the weight params, the
constraints), :mod:`~paretolab.records.view` reads a study back (metadata, one
:class:`TrialRecord` per trial, the constraint-aware front).
"""

from paretolab.records.stored import (
                                      CONSTRAINT_LIST_KEY,
                                      CONSTRAINT_PREFIX,
                                      LOG_RATIO_PARAM,
                                      ONE_RUN_KEY,
                                      RANGE_PARAM,
                                      REPEAT_KEY,
                                      RESULT_KEY,
                                      RUNG_PREFIX,
                                      START_KEY,
                                      UNIFORM_PARAM,
                                      WEIGHT_ATTR_PREFIX,
                                      WEIGHT_PARAM_PREFIXES,
                                      FailureRecord,
                                      OneRunRecord,
                                      RepeatRecord,
                                      RungRecord,
                                      TrialResult,
                                      TrialStart,
                                      counts_toward_budget,
                                      dashboard_constraints,
                                      interrupted,
                                      is_weight_param,
                                      knobs,
                                      point_trial,
                                      read_rungs,
                                      read_violations,
                                      rung_key,
                                      weight_param,
                                      write_constraints,
)
from paretolab.records.view import (
                                      META_KEY,
                                      FrontSummary,
                                      StudyMeta,
                                      TrialRecord,
                                      count_done,
                                      front_candidates,
                                      front_summary,
                                      load_records,
                                      reference_point,
                                      trial_attrs,
                                      trial_record,
)

__all__ = [
    "CONSTRAINT_LIST_KEY", "CONSTRAINT_PREFIX", "LOG_RATIO_PARAM", "META_KEY", "ONE_RUN_KEY",
    "RANGE_PARAM",
    "REPEAT_KEY", "RESULT_KEY", "RUNG_PREFIX", "START_KEY", "UNIFORM_PARAM", "WEIGHT_ATTR_PREFIX",
    "WEIGHT_PARAM_PREFIXES", "FailureRecord", "FrontSummary", "OneRunRecord", "RepeatRecord", "RungRecord", "StudyMeta",
    "TrialRecord", "TrialResult", "TrialStart", "count_done", "counts_toward_budget",
    "dashboard_constraints", "front_candidates", "front_summary", "interrupted", "is_weight_param", "knobs",
    "load_records", "point_trial", "read_rungs", "read_violations", "reference_point", "rung_key",
    "trial_attrs", "trial_record", "weight_param", "write_constraints",
]
