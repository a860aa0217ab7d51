"""trials.csv neutralises spreadsheet formulas and escape sequences in text cells (issue 26, item 9)."""

from __future__ import annotations

import pandas as pd

from paretolab.tables import _atomic_csv


def test_formulas_and_escape_sequences_in_text_cells_are_neutralised(tmp_path):
    frame = pd.DataFrame({
        "param:name": ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "plain", "\x1b[31mred"],
        "lr": [0.1, -0.5, 0.2, 0.3, 0.4, 0.5],
    })
    path = tmp_path / "trials.csv"
    _atomic_csv(frame, path)
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back["param:name"]) == ['\'=HYPERLINK("http://evil","x")', "'+1+1", "'-2+3", "'@SUM(A1)",
                                        "plain", "\\x1b[31mred"]
    assert list(back["lr"]) == [0.1, -0.5, 0.2, 0.3, 0.4, 0.5]  # numbers stay numbers
    assert "\x1b" not in path.read_text()
