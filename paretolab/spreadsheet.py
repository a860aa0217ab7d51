"""Text cells made safe for spreadsheets: ``trials.csv`` holds values a user (or a hostile
``pick.yaml`` or study file) chose, and a spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula (``=HYPERLINK(...)``), and a terminal runs escape sequences.

Such a cell gets a leading ``'`` (shown as text, as spreadsheets document it); control
characters other than newline and tab are written as ``\\xNN``.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(value: Any) -> Any:
    """A text cell as a spreadsheet shows it without running it; other values as they are."""
    if not isinstance(value, str):
        return value
    text = CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", value)
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell through :func:`safe_text` (numbers untouched)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(safe_text)
    return out
