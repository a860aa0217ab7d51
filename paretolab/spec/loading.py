"""Reading a study file: safe YAML within size bounds, the line of every field, clear errors.

``load_spec(path)`` reads a YAML study file (safe load, duplicate keys rejected, merge keys
``<<: *anchor`` allowed), validates it and returns a :class:`StudySpec`; any problem raises
:class:`~paretolab.errors.SpecError` naming the field, the line, and the fix.

A hostile or broken file is refused before it costs memory or time: a file over
:data:`MAX_FILE_BYTES` is not read, and a document whose aliases expand to more than
:data:`MAX_VALUES` values (a "billion laughs" file) is refused after composing it once, counting
each shared node once per use without expanding it.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from paretolab.errors import SpecError
from paretolab.spec.models import StudySpec, _best_line

MAX_FILE_BYTES = 64 << 10
"""A study file is a few kilobytes; one over 64 KiB is refused unread (parsing that much YAML
takes a few tenths of a second)."""
MAX_VALUES = 20_000
"""Values (mapping keys and values, list items) a study file may hold once aliases are expanded."""

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that rejects duplicate keys (PyYAML silently keeps the last one).

    Keys brought in by a merge key (``<<: *defaults``) may be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the constructor reports it below
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node, limit: int, filename: str) -> int:
    """How many values the document holds with every alias expanded, counted without expanding
    (each node's size is computed once); stops counting past ``limit``."""
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            raise SpecError("the YAML file refers to itself through an alias (a recursive anchor)",
                            where=f"{filename}:{node.start_mark.line + 1}",
                            hint="remove the alias that points into its own anchor")
        pending.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node) + size(value_node)
                if total > limit:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > limit:
                    break
        pending.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _line_index(root: yaml.Node | None) -> dict[tuple, int]:
    """Map each path in the YAML document (keys, list indices) to its 1-based line.

    Each node is walked once: a node reached again through an alias gets the line of the place
    that names it, and keys brought in by ``<<: *anchor`` the line of the merge key.
    """
    index: dict[tuple, int] = {}
    walked: set[int] = set()

    def walk(node: Any, path: tuple) -> None:
        index.setdefault(path, node.start_mark.line + 1)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:
                    merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for source in merged:
                        if isinstance(source, yaml.MappingNode):
                            for k, _ in source.value:
                                if isinstance(k, yaml.ScalarNode):
                                    index.setdefault(path + (k.value,), line)
                    continue
                child = path + (key_node.value,) if isinstance(key_node, yaml.ScalarNode) else path
                index[child] = line
                walk(value_node, child)
                index[child] = line
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return index


def _field_path(loc: tuple) -> tuple:
    """Drop pydantic's union tags (e.g. 'float', 'function-before[...]') from an error path."""
    return tuple(p for p in loc if isinstance(p, int) or not (
        p in ("float", "int", "categorical", "str", "list[...]") or "[" in str(p)))


def _format_validation(err: ValidationError, index: dict[tuple, int], filename: str) -> SpecError:
    first = err.errors()[0]
    path = _field_path(tuple(first["loc"]))
    field = ".".join(str(p) for p in path) or "(top level)"
    line = _best_line(index, path)
    where = f"{filename}:{line}: {field}" if line else f"{filename}: {field}"
    kind = first["type"]
    msg = first["msg"].removeprefix("Value error, ")
    hint = None
    if kind == "extra_forbidden":
        parent = path[:-1]
        model = _model_at(parent)
        valid = sorted(model.model_fields) if model is not None else []
        valid = [v for v in valid if v != "source"]
        msg = f"unknown field {path[-1]!r}"
        hint = f"valid fields here: {', '.join(valid)}" if valid else "remove it"
    elif kind == "missing":
        msg = "required field is missing"
        hint = f"add '{path[-1]}:' to the study file"
    elif kind == "literal_error":
        hint = "use one of the values listed"
    elif kind == "finite_number":
        msg = f"must be a finite number, got {_brief(first.get('input'))}"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        hint = f"got {_brief(first.get('input'))}"
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(msg, where=where, hint=hint)


def _brief(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (an error line stays one line)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``path`` (for listing valid fields)."""
    model: Any = StudySpec
    for part in path:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        for cand in candidates:
            sub = getattr(cand, "__args__", None)
            for c in [cand, *(sub or ())]:
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
                    break
            else:
                continue
            break
        else:
            return None
    return model


def _too_big(size: int, filename: str) -> SpecError:
    return SpecError(f"the file is {size / 2**10:,.0f} KiB; a study file may be at most "
                     f"{MAX_FILE_BYTES // 2**10} KiB", where=filename,
                     hint="a study file is a few kilobytes: check that this is the right file")


def _read_yaml(text: str, filename: str) -> tuple[Any, dict[tuple, int]]:
    """The document's data and line index, within the size bounds."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise _too_big(size, filename)
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            values = _expanded_size(root, MAX_VALUES, filename)
            if values > MAX_VALUES:
                raise SpecError(f"the file expands to more than {MAX_VALUES:,} values through YAML "
                                "aliases or long lists", where=filename,
                                hint="a study file needs no more than a few hundred values: remove "
                                "the aliases (*name) that repeat large parts")
        lines = _line_index(root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        hint = ("keep one of the two entries" if "duplicate key" in str(problem)
                else "check indentation, colons and quotes on that line")
        raise SpecError(f"YAML syntax error: {problem}", where=where, hint=hint) from None
    except RecursionError:
        raise SpecError("the YAML file is nested too deeply", where=filename,
                        hint="a study file needs a few levels of nesting") from None
    finally:
        loader.dispose()
    return data, lines


def parse_spec(text: str, filename: str = "<study>", source: str | None = None,
               overrides: Sequence[str] = ()) -> StudySpec:
    """Parse and validate study-file text (no task loading), with ``overrides`` (``key=value``
    from the command line, :mod:`paretolab.spec.overrides`) set first."""
    from paretolab.spec.overrides import apply_overrides, override_at, parse_overrides

    changes = parse_overrides(overrides)
    data, lines = _read_yaml(text, filename)
    if not isinstance(data, dict):
        raise SpecError("a study file must be a YAML mapping (name:, task:, objectives:, ...)",
                        where=filename, hint="see studies/quickstart.yaml for an example")
    data = apply_overrides(data, changes)
    if source is not None:
        data = {**data, "source": source}
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        error = _format_validation(err, lines, filename)
        culprit = override_at(_field_path(tuple(err.errors()[0]["loc"])), changes)
        if culprit is not None:  # the value came from the command line, not the file
            error = SpecError(error.message, where=f"command line: {culprit.text}", hint=error.hint)
        raise error from None
    spec._lines = lines
    spec._filename = filename
    spec._overrides = [c.text for c in changes]
    from paretolab.locate import locate_folder

    return locate_folder(spec)


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> StudySpec:
    """Read and validate a study file (schema only; :func:`paretolab.spec.check_study` runs the
    checks that need the task), with command-line ``overrides`` (``key=value``) applied."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"study file {str(path)!r} not found", hint="check the path")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(size, str(path))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {str(path)!r}: {exc}") from None
    return parse_spec(text, filename=str(path), source=str(path.resolve()), overrides=overrides)
