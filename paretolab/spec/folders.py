"""The study's folder name (``reports/<slug>``): one rule for ``paretolab run`` and for every
command that locates a study."""

import hashlib
import re

_SLUG_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def legacy_slug(name: str) -> str:
    """The folder name earlier versions gave every study: other characters than letters,
    digits, ``.``, ``_`` and ``-`` replaced by ``_``, cut at 100 (so names could collide)."""
    return (_SLUG_CHARS.sub("_", name).strip("._") or "study")[:100]


def study_slug(name: str) -> str:
    """A folder name unique to the study name.

    A plain name (letters, digits, and ``.``, ``_``, ``-`` inside; at most 100) is its own
    folder (``quickstart`` -> ``reports/quickstart``). Any other name loses characters when made
    safe, so 8 hex digits of its SHA-1 follow the readable part: ``"étude"`` and ``"研究"`` no
    longer both become ``study``, nor ``"a b"`` and ``"a_b"`` both ``a_b``.
    """
    legacy = legacy_slug(name)
    if legacy == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{legacy[:80]}-{digest}"

