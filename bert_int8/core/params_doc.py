"""`bert-int8 params`: every key of params.yaml with its type, default, allowed range, one-line
description and the value in force, read from the schema itself (bert_int8/core/params/), so the
listing cannot drift from what the stages accept."""

import json
import types
import typing

from annotated_types import Ge, Gt, Le, Lt

from bert_int8.core.params import Params, Section

BOUNDS = ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt"))


def type_name(annotation):
    """A field's type as a reader writes it: int, float | None, list[str], one of 'a' / 'b'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + " / ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is list:
        return f"list[{type_name(args[0])}]"
    return getattr(annotation, "__name__", str(annotation))


def bounds(metadata):
    """'>= 1, <= 512' from pydantic's constraint metadata (the field's own, or its items')."""
    out = []
    for item in metadata:
        for kind, sign, attr in BOUNDS:
            if isinstance(item, kind):
                out.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(out)


def _item_bounds(annotation):
    """Bounds on a list's items (list[Annotated[int, Field(ge=1)]])."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args and typing.get_origin(args[0]) is typing.Annotated:
        inner = [m for a in typing.get_args(args[0])[1:] for m in getattr(a, "metadata", [a])]
        text = bounds(inner)
        return f"each {text}" if text else ""
    return ""


def rows(params=None):
    """(key, type, default, range, description, value) for every key, section by section."""
    params = params or Params()
    out = []
    for section, field in Params.model_fields.items():
        schema: type[Section] = field.annotation
        current = getattr(params, section)
        for name, f in schema.model_fields.items():
            rng = bounds(f.metadata) or _item_bounds(f.annotation)
            out.append(
                (
                    f"{section}.{name}",
                    type_name(f.annotation),
                    f.default,
                    rng,
                    f.description or "",
                    getattr(current, name),
                )
            )
    return out


def yaml_value(value):
    """A value as params.yaml spells it (null, true, 0.1, [1, 8, 32], "text")."""
    return json.dumps(value, ensure_ascii=False)


def render(params=None):
    """The listing, two lines per key; a value of params.yaml that differs from the default is shown."""
    lines = []
    for key, kind, default, rng, text, value in rows(params):
        set_here = "" if value == default else f"; params.yaml: {yaml_value(value)}"
        limits = f", {rng}" if rng else ""
        lines.append(f"{key}: {kind}{limits}; default {yaml_value(default)}{set_here}\n    {text}")
    return "\n".join(lines) + "\n"
