"""Flags built from a spec section's field: the section owns the choices, the default and the help."""

from __future__ import annotations

import argparse
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel


def add_field(parser: argparse.ArgumentParser, cls: type[BaseModel], name: str, *, default: bool = True,
              **extra: Any) -> None:
    """``--name`` for the field ``name`` of ``cls``: its Literal choices, its default (unless
    ``default=False``: the flag's absence then means "the section's default") and its description."""
    info = cls.model_fields[name]
    flag = f"--{name.replace('_', '-')}"
    options: dict[str, Any] = {"dest": name, "help": (info.description or "").replace("%", "%%") or None}
    values = [_plain(a) for a in get_args(info.annotation) if a is not type(None)] or [info.annotation]
    literal = [v for a in values for v in (get_args(a) or (a,)) if isinstance(v, str)]
    if info.annotation is bool:
        options["action"] = "store_true"
    elif literal:
        options["choices"] = literal
    else:
        options["type"] = next((t for t in (int, float, str) if t in values), str)
    if default and info.annotation is not bool:
        options["default"] = info.default
        if options.get("help"):
            options["help"] += f" (default {info.default})"
    parser.add_argument(flag, **{**options, **extra})


def section_options(args: argparse.Namespace, cls: type[BaseModel]) -> dict[str, Any]:
    """The parsed values of the flags that are fields of ``cls``."""
    return {name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)}


def _plain(annotation: Any) -> Any:
    """``int`` for ``Annotated[int, Gt(0)]`` (pydantic's PositiveInt), else the annotation."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
