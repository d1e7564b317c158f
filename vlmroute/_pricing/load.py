"""Load pricing YAML into a frozen :class:`PriceTable` (the file I/O edge of pricing).

A user's file is layered over the shipped table: its ``offers`` add new offers or override
fields of existing ones (a deep merge, so ``offers.local-gpu.local_gpu.hour_price`` alone is
enough), and its ``fx.rates`` add or override rates. ``extends: none`` in the file replaces
the shipped table instead. Every failure is a :class:`PricingError` naming the file, the key
path inside it and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .._text_files import not_utf8
from ..errors import ConfigurationError, PricingError
from .models import PriceTable, validate_table

__all__ = ["default_pricing_path", "load_pricing", "pricing_from_mapping"]

_SHIPPED_NAME = "glm-4.1v.yaml"


def default_pricing_path() -> Path:
    """The shipped table: inside the wheel, or at the repository root in a source checkout."""
    packaged = resources.files("vlmroute").joinpath("_pricing_data").joinpath(_SHIPPED_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[2] / "pricing" / _SHIPPED_NAME
    if source_tree.is_file():
        return source_tree
    raise ConfigurationError(
        f"the shipped pricing table {_SHIPPED_NAME} is missing from this install; "
        "reinstall vlmroute or pass load_pricing(path=...)"
    )


#: libyaml's parser where PyYAML was built with it (4x faster on the shipped table); the
#: nodes it composes are the same, and _Builder constructs values from them either way.
_COMPOSER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_pricing(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """Return the pricing table: the shipped one, with ``path`` layered over it if given."""
    shipped = default_pricing_path()
    base = _read_yaml(shipped)
    if path is None:
        return _validate(base, str(shipped))
    user_file = str(path)
    overlay = _read_yaml(Path(path))
    extends = overlay.pop("extends", "default")
    if extends not in ("default", "none"):
        raise PricingError(
            user_file, "extends", "'default' (layer over the shipped table) or 'none'"
        )
    merged = overlay if extends == "none" else _deep_merge(base, overlay)
    return _validate(merged, user_file)


def pricing_from_mapping(data: Mapping[str, Any], *, extends: bool = True) -> PriceTable:
    """Build a table from an in-memory mapping (same schema as the YAML file)."""
    overlay = dict(data)
    merged = _deep_merge(_read_yaml(default_pricing_path()), overlay) if extends else overlay
    return _validate(merged, "<mapping>")


def _validate(data: dict[str, Any], file: str) -> PriceTable:
    return validate_table(data, file)


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(file, "", f"a readable YAML file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise PricingError(file, "", f"a UTF-8 YAML text file: {not_utf8(path, exc)}") from None
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        raise PricingError(file, "", f"valid YAML ({exc})") from exc
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise PricingError(file, "", "YAML nested less deeply than this") from None
    if root is None:
        return {}
    try:
        data = _Builder(file).build(root, ())
    except RecursionError:
        raise PricingError(file, "", "YAML nested less deeply than this") from None
    if not isinstance(data, dict):
        raise PricingError(
            file, "", "a mapping at the top level (schema_version, as_of, fx, offers)"
        )
    return data


_PLAIN_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?$|^[-+]?\.[0-9_]+$")


#: The most YAML nodes a pricing file may expand to, aliases followed (the shipped table
#: has a few thousand): a file of "billion laughs" aliases is refused, not expanded.
MAX_NODES = 200_000


class _Builder:
    """Python data from YAML nodes: duplicate keys, tags, self-referring aliases and alias
    bombs refused, floats kept exact. Every problem is a PricingError with its key path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.scalars = yaml.SafeLoader("")  # its own: a loader caches what it constructs
        self.nodes = 0
        self.active: set[int] = set()  # nodes being built: an alias to one loops

    def build(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise PricingError(
                self.file, ".".join(path), f"at most {MAX_NODES:,} values (aliases expanded)"
            )
        if id(node) in self.active:
            raise PricingError(self.file, ".".join(path), "an alias that does not refer to itself")
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise _tagged(node, path, self.file)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, str(i))) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: tuple[str, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                raise PricingError(
                    self.file, ".".join(path), f"a plain key, not a list or mapping (line {line})"
                )
            key = self.build(key_node, path)
            if key in out:
                line = key_node.start_mark.line + 1
                raise PricingError(
                    self.file,
                    ".".join((*path, str(key))),
                    f"a unique key, but it appears again on line {line}",
                )
            out[key] = self.build(value_node, (*path, str(key)))
        return out

    def _scalar(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        if node.tag == "tag:yaml.org,2002:float" and _PLAIN_FLOAT.match(node.value):
            return Decimal(node.value.replace("_", ""))  # exact: 0.035 stays 0.035
        try:
            return self.scalars.construct_object(node, deep=True)  # .inf/.nan: rejected later
        except yaml.YAMLError:  # a tag such as !0 or !!python/object: never constructed
            raise _tagged(node, path, self.file) from None
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            # PyYAML's own constructors: 2026-13-01 (no such date), !!bool maybe, ...
            raise PricingError(
                self.file,
                ".".join(path),
                f"a valid {node.tag.rpartition(':')[2]} value, not {node.value!r} "
                f"(line {node.start_mark.line + 1})",
            ) from None


_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _tagged(node: yaml.Node, path: tuple[str, ...], file: str) -> PricingError:
    return PricingError(
        file,
        ".".join(path),
        f"a plain YAML value, not one tagged {node.tag} (line {node.start_mark.line + 1})",
    )
