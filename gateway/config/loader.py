"""Read a YAML file into a pydantic model, naming file, line and key on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gateway.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Parse *path* and validate it as *model*; raise ConfigError naming file, line and key."""
    text = _read(path)
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of keys at the top level")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(_describe(path, node, exc)) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _describe(path: Path, node: yaml.Node | None, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_union_tag(part)]
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = line_of(node, loc)
        lines.append(f"{path}:{line}: key '{key}': {err['msg']}")
    return "; ".join(lines)


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the discriminator value or model name into loc for unions
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def line_of(node: yaml.Node | None, loc: list[Any]) -> int:
    """The 1-based line of the deepest node that *loc* reaches in the YAML tree."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node, line = child
    return line


def _child(node: yaml.Node | None, part: Any) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None
