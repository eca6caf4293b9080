"""Deterministic run outputs: text, templates and JSON fitted to an expected output."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ._faults import query_text
from ._scenario import JsonOutput, TemplateOutput, TextOutput

# Nesting limit for generated JSON, so a recursive schema cannot loop.
_MAX_DEPTH = 8


class _Variables(dict[str, Any]):
    """Template variables. A missing name formats as an empty string."""

    def __missing__(self, key: str) -> str:
        return ""


def render_template(
    template: str,
    query: Any,
    *,
    agent_id: str,
    request_id: str,
    session_id: str,
) -> str:
    """Format `template` with `{query}` (input text) and `{variables[name]}`."""
    variables = _Variables()
    text = query
    if isinstance(query, dict):
        text = query.get("input", "")
        variables.update((k, v) for k, v in query.items() if k != "input")
    return template.format_map(
        _Variables(
            query=text if isinstance(text, str) else json.dumps(text),
            variables=variables,
            agent_id=agent_id,
            request_id=request_id,
            session_id=session_id,
        )
    )


def build_output(
    spec: TextOutput | TemplateOutput | JsonOutput,
    query: Any,
    expected_output: Any,
    *,
    agent_id: str,
    request_id: str,
    session_id: str,
) -> Any:
    """Return the `data.output` value of a successful run."""
    if isinstance(spec, TextOutput):
        return spec.text
    if isinstance(spec, TemplateOutput):
        return render_template(
            spec.template,
            query,
            agent_id=agent_id,
            request_id=request_id,
            session_id=session_id,
        )

    shape = parse_expected_output(expected_output)
    if shape is None:
        shape = spec.schema_ if spec.schema_ is not None else {"output": "string"}
    value = generate_json(shape, query_text(query))
    if isinstance(value, dict):
        value.update(spec.values)
    return json.dumps(value) if spec.as_string else value


def parse_expected_output(expected_output: Any) -> Any:
    """Decode an `expectedOutput` sent as a JSON string, or return None if absent."""
    if expected_output is None or expected_output == "":
        return None
    if isinstance(expected_output, str):
        try:
            return json.loads(expected_output)
        except json.JSONDecodeError:
            # A free-text description of the output gets one string field.
            return {"output": "string"}
    return expected_output


def generate_json(shape: Any, seed_text: str) -> Any:
    """Generate a value that fits `shape`, chosen deterministically from `seed_text`.

    `shape` is either a JSON schema (an object with "type", "properties", "$ref",
    "enum" or "anyOf") or a field-type sketch: {"name": "string"}, "a|b|c" for one
    of the listed values, ["string"] for a list, and nested objects.
    """
    definitions = shape.get("$defs", {}) if isinstance(shape, dict) else {}
    if _is_json_schema(shape):
        return _from_schema(shape, definitions, seed_text, "", 0)
    return _from_sketch(shape, seed_text, "", 0)


def violate_schema(value: Any) -> Any:
    """Return `value` changed so that it no longer fits the same expected output."""
    if isinstance(value, dict) and value:
        broken = dict(value)
        keys = list(broken)
        broken.pop(keys[0])
        for key in keys[1:]:
            broken[key] = _wrong_type(broken[key])
        broken["unexpectedField"] = True
        return broken
    if isinstance(value, str):
        return {"unexpected": value}
    return "not the expected output"


def huge_text(size_bytes: int, seed_text: str) -> str:
    """Return an ASCII text of exactly `size_bytes` bytes."""
    unit = f"sandbox output for {seed_text[:60]!r}. "
    repeats = size_bytes // len(unit) + 1
    return (unit * repeats)[:size_bytes]


def _wrong_type(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return "not a list"
    return ["not", "an", "object"]


def _is_json_schema(shape: Any) -> bool:
    if not isinstance(shape, dict):
        return False
    markers = ("properties", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")
    return any(marker in shape for marker in markers) or isinstance(
        shape.get("type"), str
    )


def _pick(seed_text: str, path: str, count: int) -> int:
    digest = hashlib.sha256(f"{path}\x00{seed_text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def _plausible_text(field: str, seed_text: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])|_", " ", field).strip().lower() or "value"
    subject = " ".join(seed_text.split())[:80] or "the request"
    return f"{words.capitalize()} for: {subject}"


def _from_sketch(sketch: Any, seed_text: str, path: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(sketch, dict):
        return {
            key: _from_sketch(value, seed_text, f"{path}.{key}", depth + 1)
            for key, value in sketch.items()
        }
    if isinstance(sketch, list):
        item = sketch[0] if sketch else "string"
        count = 1 + _pick(seed_text, path + "#len", 3)
        return [
            _from_sketch(item, seed_text, f"{path}[{i}]", depth + 1)
            for i in range(count)
        ]
    if not isinstance(sketch, str):
        return sketch

    name = sketch.strip()
    field = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if "|" in name:
        choices = [choice.strip() for choice in name.split("|") if choice.strip()]
        return choices[_pick(seed_text, path, len(choices))]
    lowered = name.lower()
    if lowered in ("number", "float", "double"):
        return round(_pick(seed_text, path, 10_000) / 100, 2)
    if lowered in ("integer", "int"):
        return _pick(seed_text, path, 100)
    if lowered in ("boolean", "bool"):
        return _pick(seed_text, path, 2) == 1
    if lowered == "null":
        return None
    suffix = path.rsplit("[", 1)[-1].rstrip("]") if path.endswith("]") else ""
    text = _plausible_text(field, seed_text)
    return f"{text} ({int(suffix) + 1})" if suffix.isdigit() else text


def _from_schema(
    schema: Any,
    definitions: dict[str, Any],
    seed_text: str,
    path: str,
    depth: int,
) -> Any:
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return None
    reference = schema.get("$ref")
    if isinstance(reference, str):
        target = definitions.get(reference.rsplit("/", 1)[-1], {})
        return _from_schema(target, definitions, seed_text, path, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        choices = schema["enum"]
        return choices[_pick(seed_text, path, len(choices))]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            usable = [o for o in options if o.get("type") != "null"] or options
            return _from_schema(usable[0], definitions, seed_text, path, depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            key: _from_schema(sub, definitions, seed_text, f"{path}.{key}", depth + 1)
            for key, sub in properties.items()
        }
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = max(low, int(schema.get("maxItems", low + 2)))
        count = low + _pick(seed_text, path + "#len", high - low + 1)
        return [
            _from_schema(
                schema.get("items", {}),
                definitions,
                seed_text,
                f"{path}[{i}]",
                depth + 1,
            )
            for i in range(count)
        ]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 100)
        value = low + _pick(seed_text, path, int(high - low) + 1)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return _pick(seed_text, path, 2) == 1
    if kind == "null":
        return None
    return _from_sketch("string", seed_text, path, depth)
