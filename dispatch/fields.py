"""Field types shared by every request model (HTTP bodies and websocket frames).

Refused here rather than deep in the service, where they would surface as 500s:
- booleans and strings where a number is expected (pydantic's lax mode reads `true` as 1.0);
- instants outside any plausible dispatch record (year 1 overflows date arithmetic);
- NUL (U+0000), which no PostgreSQL text or jsonb value can hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Strict

# A JSON number: an int or a float, never a bool or a numeric string.
Number = Annotated[float, Strict()]


def _whole(value: Any) -> Any:
    # int in strict mode would refuse 80.0, which tablets send for 80
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole)]

# Years a call, a crew's record or a report can be about; beyond them datetime arithmetic
# and time-zone conversion overflow (0001-01-01 minus a day).
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _plausible(value: Any) -> Any:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]

NUL = "\x00"
NUL_REASON = "must not contain NUL (U+0000)"


def nul_field(value: Any, path: str = "") -> str | None:
    """The path ("fixes[0].source", like the API's error fields) of the first string in a
    decoded JSON value, key or item, that holds NUL; None if there is none."""
    for where, text in _strings(value, path):
        if NUL in text:
            return where or "body"
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from _strings(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
