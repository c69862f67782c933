"""Parameter typing: declared types, integral doubles, defaults, optionals, command-line text."""

import pytest

from sluice.domain.ir import Interface, ParamDef, ParamType
from sluice.domain.values import bind_inputs, coerce, normalise_numbers, parse_text
from sluice.errors import InvalidArgument

T = ParamType


def test_integral_doubles_become_ints_at_every_depth() -> None:
    value = normalise_numbers({"a": [0.0, 1.0, 2.5], "b": {"c": 3.0}, "d": True, "e": "1.0"})
    assert value == {"a": [0, 1, 2.5], "b": {"c": 3}, "d": True, "e": "1.0"}
    assert [type(v) for v in value["a"]] == [int, int, float]  # type: ignore[index,union-attr]
    assert value["d"] is True  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "ptype", "expected"),
    [
        ("s", T.STRING, "s"),
        (3.0, T.NUMBER_INTEGER, 3),
        (3, T.NUMBER_INTEGER, 3),
        (2, T.NUMBER_DOUBLE, 2.0),
        (0.5, T.NUMBER_DOUBLE, 0.5),
        (False, T.BOOLEAN, False),
        ([1.0, 2.0], T.LIST, [1, 2]),
        ({"k": [1.0]}, T.STRUCT, {"k": [1]}),
    ],
)
def test_coerce_accepts_and_canonicalises(value: object, ptype: ParamType, expected: object) -> None:
    result = coerce(value, ptype, "f")  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "ptype"),
    [(1, T.STRING), (3.5, T.NUMBER_INTEGER), (True, T.NUMBER_INTEGER), ("1", T.NUMBER_DOUBLE),
     ("true", T.BOOLEAN), ({"a": 1}, T.LIST), ([1], T.STRUCT)],
)
def test_coerce_rejects_wrong_types_naming_the_field(value: object, ptype: ParamType) -> None:
    with pytest.raises(InvalidArgument) as info:
        coerce(value, ptype, "runtimeConfig.parameterValues.x")  # type: ignore[arg-type]
    assert info.value.field == "runtimeConfig.parameterValues.x"
    assert "expected" in info.value.message


@pytest.mark.parametrize(
    ("text", "ptype", "expected"),
    [("hello world", T.STRING, "hello world"), ("42", T.NUMBER_INTEGER, 42), ("4.0", T.NUMBER_INTEGER, 4),
     ("0.25", T.NUMBER_DOUBLE, 0.25), ("True", T.BOOLEAN, True), ("false", T.BOOLEAN, False),
     ("[1, 2]", T.LIST, [1, 2]), ('{"a": 1}', T.STRUCT, {"a": 1}), ("[]", T.LIST, [])],
)
def test_command_line_text_parsed_by_declared_type(text: str, ptype: ParamType, expected: object) -> None:
    assert parse_text(text, ptype, "-p x") == expected


@pytest.mark.parametrize(("text", "ptype"), [("abc", T.NUMBER_INTEGER), ("1.5", T.NUMBER_INTEGER),
                                             ("maybe", T.BOOLEAN), ("[1,", T.LIST), ("3", T.STRUCT)])
def test_command_line_text_of_the_wrong_type(text: str, ptype: ParamType) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_text(text, ptype, "-p x")
    assert info.value.field == "-p x"


INTERFACE = Interface(parameters={
    "n": ParamDef("n", T.NUMBER_INTEGER),
    "lr": ParamDef("lr", T.NUMBER_DOUBLE, optional=True, has_default=True, default=1),
    "tag": ParamDef("tag", T.STRING, optional=True),
    "xs": ParamDef("xs", T.LIST, optional=True, has_default=True, default=[1.0, 2.0]),
})


def test_bind_applies_defaults_and_leaves_optional_inputs_absent() -> None:
    bound = bind_inputs(INTERFACE, {"n": 3.0}, "p")
    assert bound == {"n": 3, "lr": 1.0, "xs": [1, 2]}
    assert "tag" not in bound
    assert type(bound["n"]) is int and type(bound["lr"]) is float


def test_bind_rejects_unknown_missing_and_mistyped() -> None:
    with pytest.raises(InvalidArgument, match="no input parameter 'm'") as unknown:
        bind_inputs(INTERFACE, {"n": 1, "m": 2}, "p")
    assert unknown.value.field == "p.m"
    with pytest.raises(InvalidArgument, match="required") as missing:
        bind_inputs(INTERFACE, {}, "p")
    assert missing.value.field == "p.n"
    with pytest.raises(InvalidArgument) as mistyped:
        bind_inputs(INTERFACE, {"n": "three"}, "p")
    assert mistyped.value.field == "p.n"
