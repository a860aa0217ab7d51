"""Finding a study from what the user typed: one locator for ``pick``, ``report`` and the rest.

Every command that names a study accepts the same three forms:

- a study directory (``reports/<study>``, holding ``study.db``), with ``--study NAME`` when that
  file holds several studies (their files then go to ``reports/<study>``, as for a URL);
- a study file (``study.yaml``): its storage and its name (``--study`` names another study of
  the same storage);
- a storage URL (``sqlite:///...``, ``postgresql://...``) with ``--study NAME``.

:func:`locate` turns them into where the study is stored, where its files go and where relative
task paths start; :func:`open_source` also loads it. :func:`command_target` writes the form back
for the commands paretolab suggests (report rows, the end of ``paretolab run``), so that every
suggested command names the study the way this module reads it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretolab.errors import UserError
from paretolab.spec.folders import legacy_slug, study_slug

if TYPE_CHECKING:  # reading a study file imports neither Optuna nor the records
    import optuna

    from paretolab.records import StudyMeta

_URL = re.compile(r"^[a-z][a-z0-9+]*://")
STUDY_DB = "study.db"


class StudyNotFound(UserError):
    """The study the user named cannot be found or read."""


def is_url(target: str | Path) -> bool:
    """Whether ``target`` is a storage URL (``scheme://...``) rather than a path."""
    return isinstance(target, str) and bool(_URL.match(target))


def study_folder(name: str) -> Path:
    """The folder of the study ``name`` under ``reports/``, the same for ``paretolab run`` and for
    every command that locates the study: ``reports/<slug>``
    (:func:`paretolab.spec.folders.study_slug`), or the folder an earlier version gave it (named
    without the hash) when that one holds the study and ``reports/<slug>`` does not exist yet."""
    folder = Path("reports") / study_slug(name)
    legacy = Path("reports") / legacy_slug(name)
    if legacy != folder and not folder.exists() and name in stored_study_names(legacy / STUDY_DB):
        return legacy
    return folder


def stored_study_names(db: Path) -> list[str]:
    """The names of the Optuna studies in the SQLite file ``db`` (a read-only look without
    Optuna; empty when there is no such file or it holds no studies table)."""
    if not db.is_file():
        return []
    import sqlite3

    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return [name for (name,) in conn.execute("SELECT study_name FROM studies ORDER BY study_id")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def locate_folder(spec: Any) -> Any:
    """Record on ``spec`` (a :class:`~paretolab.spec.StudySpec`) its :func:`study_folder` when it
    gives no ``output_dir``; returns ``spec``. Called when a study file is read and when it is
    checked, so that ``spec.study_dir`` itself reads no file."""
    if not spec.output_dir and spec._folder is None:
        spec._folder = study_folder(spec.name)
    return spec


@dataclass
class Location:
    """Where a study is stored, where its files go, and where its relative task paths start."""

    storage_url: str
    name: str
    study_dir: Path
    base_dir: Path | None
    form: str  # "dir", "file" or "url": how the user named it
    target: str  # what the user typed
    named: bool = False  # True when the target alone does not name the study (--study needed)

    @property
    def command(self) -> str:
        """How paretolab's commands name this study (see :func:`command_target`)."""
        return command_target(self.target, self.name if self.named or self.form == "url" else None)


@dataclass
class StudySource:
    """A loaded study with where its files go and where relative task paths start."""

    study: optuna.Study
    meta: StudyMeta
    study_dir: Path
    base_dir: Path | None
    location: Location | None = None

    @property
    def name(self) -> str:
        return self.meta.name


def _names(url: str) -> list[str]:
    import optuna

    from paretolab.storage import open_storage

    return sorted(optuna.get_all_study_names(storage=open_storage(url, create_dir=False)))


def locate(target: str | Path, study_name: str | None = None) -> Location:
    """Resolve a study directory, a study file or a storage URL (+ ``study_name``).

    A user error (exit 2, one line) names what is wrong: no such path, a directory without
    ``study.db``, a URL without ``--study``, a storage with several studies and no ``--study``.
    """
    text = str(target)
    if is_url(text):
        if not study_name:
            raise StudyNotFound("a storage URL needs the study's name", where=_shown(text),
                                hint="add --study NAME")
        from paretolab.storage import sqlite_path

        path = sqlite_path(text)
        if path is not None and not path.is_file():
            raise StudyNotFound("no such SQLite file", where=_shown(text))
        return Location(text, study_name, study_folder(study_name), None, "url", text, True)
    path = Path(text)
    if path.is_dir():
        db = path / STUDY_DB
        if not db.is_file():
            raise StudyNotFound(f"not a study directory (it has no {STUDY_DB})", where=str(path),
                                hint="give the study directory (reports/<study>), the study file, "
                                "or a storage URL with --study NAME")
        url = f"sqlite:///{db.as_posix()}"
        names = _names(url)
        if study_name:  # the folder is the study's own when it holds only that study
            own = names == [study_name]
            return Location(url, study_name, path if own else study_folder(study_name),
                            None, "dir", text, not own)
        if len(names) != 1:
            raise StudyNotFound(f"{db} holds {len(names)} studies ({', '.join(names) or 'none'})",
                                hint="name one with --study NAME")
        return Location(url, names[0], path, None, "dir", text)
    if path.is_file():
        if path.suffix not in (".yaml", ".yml"):
            raise StudyNotFound("not a study file (.yaml)", where=text,
                                hint="give the study directory (reports/<study>), the study file, "
                                "or a storage URL with --study NAME")
        from paretolab.spec import load_spec

        spec = load_spec(path)
        name = study_name or spec.name
        study_dir = spec.study_dir if name == spec.name else study_folder(name)
        return Location(spec.storage_url, name, study_dir, spec.base_dir, "file", text,
                        bool(study_name) and study_name != spec.name)
    raise StudyNotFound("no such study directory, study file or storage URL", where=text,
                        hint="give the study directory (reports/<study>), the study file, "
                        "or a storage URL with --study NAME")


def load_study(storage_url: str, name: str) -> optuna.Study:
    """The study ``name`` of the storage (a user error listing the studies there when absent)."""
    import optuna

    from paretolab.storage import open_storage

    storage = open_storage(storage_url, create_dir=False)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = sorted(optuna.get_all_study_names(storage=storage))
        raise StudyNotFound(f"no study named {name!r} in the storage", where="--study",
                            hint=f"studies there: {', '.join(names) or 'none'}") from None


def open_source(target: str | Path, study_name: str | None = None) -> StudySource:
    """:func:`locate` the study and load it (a user error when it is not there or not ours)."""
    from paretolab.records import StudyMeta
    from paretolab.storage import sqlite_path

    where = locate(target, study_name)
    not_run = StudyNotFound(f"study {where.name!r} has not been run yet",
                            hint=f"run 'paretolab run {where.target}' first")
    db = sqlite_path(where.storage_url)
    if where.form == "file" and db is not None and not db.is_file():
        raise not_run
    try:
        study = load_study(where.storage_url, where.name)
    except StudyNotFound:
        if where.form == "file" and not where.named:
            raise not_run from None
        raise
    try:
        meta = StudyMeta.from_study(study)
    except KeyError as exc:
        raise StudyNotFound(str(exc.args[0]), where=_shown(str(target)),
                            hint="name a study that 'paretolab run' created") from None
    return StudySource(study, meta, where.study_dir, where.base_dir, where)


def _shown(text: str) -> str:
    from paretolab.storage import redact

    return redact(text)


def command_target(target: str, study_name: str | None = None) -> str:
    """How a suggested command names the study: shell-quoted, password redacted, a path made
    relative to the current directory when it is below it, ``--study NAME`` where needed."""
    if not is_url(target) and Path(target).is_absolute():
        try:  # the path as typed from here, when it is below the current directory
            target = str(Path(target).relative_to(Path.cwd()))
        except ValueError:
            pass
    text = shlex.quote(_shown(target))
    if study_name:
        text += f" --study {shlex.quote(study_name)}"
    return text


def storage_target(storage_url: str, name: str, study_dir: Path) -> str:
    """How suggested commands name a study stored at ``storage_url``: its directory when that
    is the directory's own ``study.db``, else the storage URL with ``--study``."""
    if storage_url == f"sqlite:///{(Path(study_dir) / STUDY_DB).as_posix()}":
        return command_target(str(study_dir))
    return command_target(storage_url, name)


def spec_target(spec: Any) -> str:
    """How suggested commands name the study of a (checked) study spec: the study file when it
    leads to the same storage (a ``--storage`` flag may have replaced it), else
    :func:`storage_target`."""
    if spec.source:
        try:
            from paretolab.spec import load_spec

            if load_spec(spec.source).storage_url == spec.storage_url:
                return command_target(str(spec.source))
        except UserError:
            pass
    return storage_target(spec.storage_url, spec.name, spec.study_dir)
