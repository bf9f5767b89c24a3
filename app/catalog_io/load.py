"""Reading a catalog file: YAML into plain values, with the line of every key and
list item, so a problem found later can name where it was written.

The YAML is read with the core schema of YAML 1.2 rather than PyYAML's YAML 1.1:
only ``true``/``false`` are booleans (``on``, ``no``, ``y`` stay text: Norway's ``NO``
is a country code), integers are decimal (``017`` is 17, not octal; ``1:30`` is text,
not 90), and timestamps stay text, parsed by the API's own instant rules. Numbers with
a fraction or an exponent are read as ``Decimal`` from their text, so ``99.95`` is
exactly 99.95: no float ever touches a percentage or a fee. Duplicate keys are an
error (YAML would silently keep the last one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathKey = str | int
FieldPath = tuple[PathKey, ...]

# A document nests far less than this; the limits stop aliases that refer to
# themselves (a cycle) or expand exponentially ("billion laughs").
MAX_DEPTH = 64
MAX_NODES = 1_000_000

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")

_RESOLVERS: list[tuple[str, re.Pattern[str], Iterable[str]]] = [
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")),
]


def core_schema(cls: type[Any]) -> type[Any]:
    """Give a Loader or Dumper class the YAML 1.2 core schema's implicit types (the
    dumper needs the same ones to know which text must be quoted)."""
    cls.yaml_implicit_resolvers = {}
    for tag, pattern, first in _RESOLVERS:
        cls.add_implicit_resolver(tag, pattern, first)
    return cls


@core_schema
class CatalogLoader(yaml.SafeLoader):
    """SafeLoader with the core schema and exact numbers."""


def _decimal(loader: yaml.SafeLoader, node: ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return Decimal("-Infinity" if lowered.startswith("-") else "Infinity")
    if lowered == ".nan":
        return Decimal("NaN")
    return Decimal(text)


def _int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    return int(str(loader.construct_scalar(node)).replace("_", ""), 10)


CatalogLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
CatalogLoader.add_constructor("tag:yaml.org,2002:int", _int)

# The same with libyaml's parser where PyYAML was built with it: ten times faster
# (a 10,000-monitor catalog parses in about 2 s instead of 20), with the same marks.
_LOADER: type[Any] = CatalogLoader
try:

    @core_schema
    class _FastCatalogLoader(yaml.CSafeLoader):
        """CSafeLoader with the core schema and exact numbers."""

    _FastCatalogLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
    _FastCatalogLoader.add_constructor("tag:yaml.org,2002:int", _int)
    _LOADER = _FastCatalogLoader
except AttributeError:  # PyYAML without libyaml
    pass


class CatalogFileError(Exception):
    """The file cannot be read as YAML at all: no problem list, just where it broke."""

    def __init__(self, name: str, line: int | None, message: str) -> None:
        where = f"{name}:{line}" if line is not None else name
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Source:
    """A catalog file's values and where each key and item was written."""

    name: str
    data: Any
    lines: dict[FieldPath, int]

    def line(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest enclosing key or item (a missing
        field is reported where its object starts)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def show_path(path: FieldPath) -> str:
    """``('customers', 0, 'services', 2, 'monthly_fee')`` ->
    ``customers[0].services[2].monthly_fee``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read(path: Path) -> Source:
    """Read the catalog file at ``path``; CatalogFileError if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogFileError(str(path), None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogFileError(str(path), None, f"cannot be read: {exc}") from None
    return parse(text, str(path))


def parse(text: str, name: str, *, loader_class: type[Any] | None = None) -> Source:
    """Parse one YAML document, keeping the line of every key and list item."""
    loader = (loader_class or _LOADER)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise CatalogFileError(name, None, "the file is empty: nothing is declared")
        builder = _Builder(loader, name)
        data = builder.build(node, (), 0)
        return Source(name, data, {(): node.start_mark.line + 1, **builder.lines})
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        raise CatalogFileError(name, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise CatalogFileError(name, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


class _Builder:
    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name
        self.lines: dict[FieldPath, int] = {}
        self.nodes = 0

    def build(self, node: Node, path: FieldPath, depth: int) -> Any:
        self.nodes += 1
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise CatalogFileError(
                self.name, line, "nests too deep or expands too far (aliases referring back?)"
            )
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # `<<: *defaults` merges
            result: dict[Any, Any] = {}
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                key = (
                    self.loader.construct_object(key_node)
                    if isinstance(key_node, ScalarNode)
                    else None
                )
                if not isinstance(key, str):
                    raise CatalogFileError(self.name, key_line, "a key must be text")
                if key in result:
                    raise CatalogFileError(
                        self.name,
                        key_line,
                        f"{show_path((*path, key))}: given twice (first on line {first_line[key]})",
                    )
                first_line[key] = key_line
                self.lines[(*path, key)] = key_line
                result[key] = self.build(value_node, (*path, key), depth + 1)
            return result
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        return self.loader.construct_object(node, deep=True)
