"""AIP-160 list filters, parsed with a grammar (lark) and checked against the fields Vertex documents.

    labels.env="dev" AND (state="PIPELINE_STATE_SUCCEEDED" OR state="PIPELINE_STATE_FAILED")
    display_name:"*step*" create_time>"2024-01-01T00:00:00Z" -labels.team:*

As AIP-160 specifies, OR binds tighter than AND, and terms separated by spaces are ANDed. The result is a
domain filter tree (domain/listing.py) that the store turns into SQL; nothing is filtered in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from lark import Lark, LarkError, Token, Transformer, UnexpectedInput, v_args

from sluice.api.schemas import snake
from sluice.api.views import PIPELINE_STATES
from sluice.domain.listing import All, AnyOf, Compare, Filter, JobField, LabelIs, LabelMatch, Match, Not, Op
from sluice.errors import InvalidArgument

_GRAMMAR = r"""
?start: expression
      |                          -> empty
?expression: sequence (_AND sequence)*
?sequence: factor factor*
?factor: term (_OR term)*
?term: _NOT simple               -> negation
     | "-" simple                -> negation
     | simple
?simple: restriction
       | "(" expression ")"
restriction: member (COMPARATOR member)?
member: value ("." value)*
value: TEXT | STRING

COMPARATOR: "<=" | ">=" | "!=" | "<" | ">" | "=" | ":"
_AND.2: /AND(?=[\s(]|$)/
_OR.2: /OR(?=[\s(]|$)/
_NOT.2: /NOT(?=[\s(]|$)/
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
TEXT: /[^\s.:=<>!"'()\-][^\s.:=<>!"'()]*/
%import common.WS
%ignore WS
"""



@cache
def _parser() -> Lark:
    # Built on first use: the CLI imports this module and most of its commands never filter.
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

FIELD = "filter"
MAX_COMPARISONS, MAX_DEPTH = 100, 32


@dataclass(frozen=True)
class _Member:
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class _Restriction:
    member: _Member
    op: str | None
    arg: _Member | None


def _unquote(token: str) -> str:
    body = token[1:-1]
    out, escaped = [], False
    for char in body:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


@v_args(inline=True)
class _Tree(Transformer[Token, Any]):
    def empty(self) -> None:
        return None

    def value(self, token: Token) -> str:
        return _unquote(token) if token.type == "STRING" else str(token)

    def member(self, *values: str) -> _Member:
        return _Member(values)

    def restriction(self, member: _Member, op: Token | None = None, arg: _Member | None = None) -> _Restriction:
        return _Restriction(member, str(op) if op is not None else None, arg)

    def negation(self, part: Any) -> tuple[str, Any]:
        return ("not", part)

    def expression(self, *parts: Any) -> tuple[str, tuple[Any, ...]]:
        return ("and", parts)

    def sequence(self, *parts: Any) -> tuple[str, tuple[Any, ...]]:
        return ("and", parts)

    def factor(self, *parts: Any) -> tuple[str, tuple[Any, ...]]:
        return ("or", parts)


def _time(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        raise InvalidArgument(f"{field}: expected an RFC 3339 time such as \"2024-01-01T00:00:00Z\", got {text!r}",
                              FIELD) from None
    if value.tzinfo is None:
        raise InvalidArgument(f"{field}: the time {text!r} needs a zone (Z or an offset)", FIELD)
    return value.astimezone(UTC)


def _state(text: str) -> str:
    if text.isdigit() and int(text) < len(PIPELINE_STATES):
        return PIPELINE_STATES[int(text)]
    if text in PIPELINE_STATES:
        return text
    raise InvalidArgument(f"state: unknown PipelineState {text!r}; use a name such as PIPELINE_STATE_SUCCEEDED",
                          FIELD)


_STRING_OPS = {"=": Op.EQ, "!=": Op.NE}
_TIME_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}


def _string_field(field: JobField, ops: str) -> Callable[[str, str, str], Filter]:
    def build(name: str, op: str, value: str) -> Filter:
        if op == ":" and ":" in ops:
            return Match(field, value)
        if op in _STRING_OPS:
            return Compare(field, _STRING_OPS[op], value)
        raise InvalidArgument(f"{name} supports {' '.join(ops.split())}, not {op!r}", FIELD)

    return build


def _time_field(field: JobField) -> Callable[[str, str, str], Filter]:
    def build(name: str, op: str, value: str) -> Filter:
        if op not in _TIME_OPS:
            raise InvalidArgument(f"{name} supports = != < > <= >=, not {op!r}", FIELD)
        return Compare(field, _TIME_OPS[op], _time(value, name))

    return build


def _state_field(name: str, op: str, value: str) -> Filter:
    if op not in _STRING_OPS:
        raise InvalidArgument(f"{name} supports = and !=, not {op!r}", FIELD)
    return Compare(JobField.STATE, _STRING_OPS[op], _state(value))


# The fields Vertex documents for ListPipelineJobs, by their snake_case name.
_FIELDS: dict[str, Callable[[str, str, str], Filter]] = {
    "pipeline_name": _string_field(JobField.PIPELINE_NAME, "= !="),
    "display_name": _string_field(JobField.DISPLAY_NAME, "= != :"),
    "pipeline_job_user_id": _string_field(JobField.JOB_ID, "= != :"),
    "state": _state_field,
    "create_time": _time_field(JobField.CREATE_TIME),
    "update_time": _time_field(JobField.UPDATE_TIME),
    "start_time": _time_field(JobField.START_TIME),
    "end_time": _time_field(JobField.END_TIME),
    "template_uri": _string_field(JobField.TEMPLATE_URI, "= != :"),
    "template_metadata.version": _string_field(JobField.TEMPLATE_VERSION, "= != :"),
}


def _label(restriction: _Restriction, key: str, value: str) -> Filter:
    op = restriction.op
    if op == "=":
        return LabelIs(key, value)
    if op == "!=":
        return LabelIs(key, value, negated=True)
    if op == ":":
        return LabelMatch(key, value)
    raise InvalidArgument(f"labels.{key} supports = != and : (presence: labels.{key}:*), not {op!r}", FIELD)


def _restriction(node: _Restriction) -> Filter:
    parts = node.member.parts
    if node.op is None or node.arg is None:
        raise InvalidArgument(f"{node.member.text!r} needs a comparison, e.g. display_name=\"x\"", FIELD)
    value = node.arg.text
    if parts[0] == "labels":
        if len(parts) != 2:
            raise InvalidArgument("name one label: labels.KEY", FIELD)
        return _label(node, parts[1], value)
    name = ".".join(snake(p) for p in parts)
    build = _FIELDS.get(name)
    if build is None:
        known = ", ".join([*_FIELDS, "labels.KEY"])
        raise InvalidArgument(f"cannot filter on {node.member.text!r}; use {known}", FIELD)
    return build(name, node.op, value)


def _size(node: Any, depth: int = 1) -> tuple[int, int]:
    """(comparisons, nesting depth) of a parsed filter."""
    if isinstance(node, _Restriction):
        return 1, depth
    kind, parts = node
    sizes = [_size(p, depth + 1) for p in ((parts,) if kind == "not" else parts)]
    return sum(n for n, _ in sizes), max(d for _, d in sizes)


def _tree(node: Any) -> Filter:
    if isinstance(node, _Restriction):
        return _restriction(node)
    kind, parts = node
    if kind == "not":
        return Not(_tree(parts))
    built = tuple(_tree(p) for p in parts)
    return All(built) if kind == "and" else AnyOf(built)


def parse_filter(text: str | None) -> Filter | None:
    """The filter tree for AIP-160 `text` (None when empty); INVALID_ARGUMENT naming what is wrong."""
    if not text or not text.strip():
        return None
    try:
        parsed = _Tree().transform(_parser().parse(text))
    except UnexpectedInput as exc:
        raise InvalidArgument(f"cannot parse {text!r} at column {exc.column}", FIELD) from None
    except LarkError as exc:
        raise InvalidArgument(f"cannot parse: {exc}", FIELD) from None
    if parsed is None:
        return None
    # The database has limits too (SQLite: an expression tree at most 1,000 deep); a filter beyond these is
    # a mistake, and saying so beats an error from the store.
    comparisons, depth = _size(parsed)
    if comparisons > MAX_COMPARISONS or depth > MAX_DEPTH:
        raise InvalidArgument(f"too complex: at most {MAX_COMPARISONS} comparisons nested at most {MAX_DEPTH} "
                              f"deep, got {comparisons} nested {depth} deep", FIELD)
    return _tree(parsed)
