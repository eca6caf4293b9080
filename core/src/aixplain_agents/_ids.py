"""Checks on identifiers that end up in URL paths."""

from __future__ import annotations

import re

from aixplain_agents._exceptions import ConfigurationError, shorten

# Agent ids are 24-hex object ids and request ids look like "<agent>__<hex>"; both fit
# this set. Excluding "/", "?", "#", "%" and whitespace keeps a templated value from
# steering a request to another path.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,255}")


def check_id(value: object, label: str) -> str:
    """Return ``value`` if it is a safe identifier, else raise ConfigurationError."""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{label} must be a string, got {type(value).__name__}"
        )
    if not _ID_PATTERN.fullmatch(value) or ".." in value:
        raise ConfigurationError(
            f"invalid {label} {shorten(value)!r} ({len(value)} characters): use "
            "ASCII letters, digits and '_.:@-' only, starting with a letter or digit, "
            "with no '..', at most 256 characters"
        )
    return value
