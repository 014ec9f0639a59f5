"""The ledger record's types with their fields in sorted order, for decoding only.

msgspec decodes an object's keys fastest in the order its Struct declares them: it
tries the next declared field first. A canonical record has its keys sorted, and the
domain's Structs declare theirs in the order that reads best, so the verifier's batch
decode (`verify_fast`) uses these copies: the same fields, types, defaults and tags,
declared sorted. Built from the domain's own types at import, so they cannot drift.
"""

from __future__ import annotations

import functools
import operator
import types
import typing

import msgspec
from msgspec import structs

from plumeline.events.ledger import Record

__all__ = ["SortedRecord"]


def _sorted(t: typing.Any, done: dict) -> typing.Any:
    if t in done:
        return done[t]
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        config = t.__struct_config__
        fields: list[tuple] = []
        for f in sorted(structs.fields(t), key=lambda f: f.encode_name):
            field = msgspec.field(name=f.encode_name) if f.encode_name != f.name else None
            if f.default is not msgspec.NODEFAULT:
                field = msgspec.field(default=f.default, name=f.encode_name)
            elif f.default_factory is not msgspec.NODEFAULT:
                field = msgspec.field(default_factory=f.default_factory, name=f.encode_name)
            typ = _sorted(f.type, done)
            fields.append((f.name, typ) if field is None else (f.name, typ, field))
        done[t] = msgspec.defstruct(
            t.__name__, fields, kw_only=True, frozen=True, gc=False, tag=config.tag,
            tag_field=config.tag_field, omit_defaults=config.omit_defaults,
            forbid_unknown_fields=config.forbid_unknown_fields)
        return done[t]
    args = typing.get_args(t)
    origin = typing.get_origin(t)
    if not args or origin is None:
        return t
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_sorted(a, done) for a in args])
    if origin is typing.Annotated:
        return typing.Annotated[(_sorted(args[0], done), *args[1:])]
    return origin[tuple(_sorted(a, done) for a in args)]


SortedRecord = _sorted(Record, {})
