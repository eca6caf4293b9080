"""Structured output: how ``expected_output`` is sent, and how the result is checked."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from aixplain_agents._exceptions import shorten

# Type names accepted in a dict-of-types ``expected_output``.
_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "str": (str,),
    "text": (str,),
    "number": (int, float),
    "float": (int, float),
    "integer": (int,),
    "int": (int,),
    "boolean": (bool,),
    "bool": (bool,),
    "array": (list,),
    "list": (list,),
    "object": (dict,),
    "dict": (dict,),
}
_ANY_TYPES = frozenset({"any", "json"})
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*)\n\s*```\s*$", re.DOTALL)
SAMPLE_CHARS = 200


def expected_output_to_wire(expected: dict[str, Any] | type[BaseModel]) -> Any:
    """Return ``expected_output`` as the service takes it.

    A dict of field types goes as a JSON string and a pydantic model class as its JSON
    schema object, the forms the official SDK sends.
    """
    if isinstance(expected, dict):
        return json.dumps(expected)
    return expected.model_json_schema()


def check_type_spec(spec: Any, path: str = "expected_output") -> None:
    """Raise ValueError, naming the field, if ``spec`` is not a dict-of-types spec.

    A field's spec is a type name or description (``"string"``, ``"low|high"``), a
    list holding one item spec, or a dict of field specs.
    """
    if isinstance(spec, dict):
        if not spec:
            raise ValueError(f"{path} is an empty object; name at least one field")
        for name, field_spec in spec.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{path} has an empty field name")
            check_type_spec(field_spec, f"{path}.{name}")
    elif isinstance(spec, list):
        if len(spec) > 1:
            raise ValueError(
                f"{path}: a list spec must contain exactly one item spec, "
                f"got {len(spec)}"
            )
        for item in spec:
            check_type_spec(item, f"{path}[]")
    elif not isinstance(spec, str) or not spec.strip():
        raise ValueError(
            f"{path}: expected a type name such as 'string' or 'low|medium|high', a "
            f"list or an object, got {shorten(repr(spec))}"
        )


def check_json_safe(value: Any, label: str) -> None:
    """Raise ValueError if ``value`` cannot be sent as standard JSON.

    NaN and Infinity are rejected too: they are not JSON, and a server may fail on
    every later poll of a run whose request held them.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{label} cannot be sent as JSON: {shorten(reason)}") from None


def parse_json_output(output: Any) -> Any:
    """Return ``output`` decoded from JSON text (a Markdown code fence is allowed).

    Raises ValueError with the decoder's message when the text is not JSON.
    """
    if not isinstance(output, str):
        return output
    fenced = _FENCE.match(output)
    text = fenced.group("body") if fenced else output
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"output is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None


def find_type_problem(value: Any, spec: Any, path: str = "output") -> str | None:
    """Return the first way ``value`` breaks a dict-of-types spec, or None if it fits.

    A spec is a type name (``"string"``), alternatives (``"low|medium|high"``), a list
    holding the spec of the items, or a dict of field specs (extra fields allowed).
    """
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{path}: expected an object, got {_type_name(value)}"
        for name, field_spec in spec.items():
            if name not in value:
                return f"{path}.{name}: field is missing"
            problem = find_type_problem(value[name], field_spec, f"{path}.{name}")
            if problem:
                return problem
        return None

    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{path}: expected a list, got {_type_name(value)}"
        item_spec = spec[0] if spec else "any"
        for index, item in enumerate(value):
            problem = find_type_problem(item, item_spec, f"{path}[{index}]")
            if problem:
                return problem
        return None

    if isinstance(spec, str):
        return _find_scalar_problem(value, spec, path)
    return None


def _find_scalar_problem(value: Any, spec: str, path: str) -> str | None:
    name = spec.strip().lower()
    if name in _ANY_TYPES:
        return None
    if name in _TYPE_CHECKS:
        types = _TYPE_CHECKS[name]
        is_bool = isinstance(value, bool)
        if isinstance(value, types) and (bool in types or not is_bool):
            return None
        return f"{path}: expected {name}, got {_type_name(value)}"
    if "|" in spec:
        choices = [choice.strip() for choice in spec.split("|")]
        if value in choices:
            return None
        return f"{path}: expected one of {choices}, got {value!r}"
    # Any other text is a description of the field: require only that it exists.
    return None


def validate_model(
    value: Any, model: type[BaseModel]
) -> tuple[BaseModel | None, str | None]:
    """Validate ``value``; return (instance, None) or (None, first problem)."""
    try:
        return model.model_validate(value), None
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in ("output", *first["loc"]))
        return None, f"{where}: {first['msg']}"


def output_sample(output: Any) -> str:
    """Return the start of ``output`` as text, for error messages."""
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    if len(text) <= SAMPLE_CHARS:
        return text
    return text[:SAMPLE_CHARS] + f"... ({len(text)} characters)"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )
