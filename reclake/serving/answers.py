"""What every HTTP front of the lookup client answers alike: the ids and versions it takes, the status of each error.

``reclake serve`` (FastAPI, reclake/serving/api.py) and the Cloud Function
(functions-framework, reclake/serving/function.py) both check their input against
these constraints (pydantic, one regex engine) and turn a lookup into a body or a
:class:`Refused`, so the two answer the same request with the same status and JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from reclake.errors import MissingTableError, NotFound, RequestRefused

# Ids are the input's strings: printable text up to 256 characters, as validation lets through (no controls,
# no invisible format characters such as bidi or zero-width marks, no line separators).
MAX_ID_LENGTH = 256
ID_PATTERN = r"^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$"
IdText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
Version = Annotated[int, Field(ge=0)]
MAX_ITEMS = 1000  # items in one response, by default

# A lookup's errors, as HTTP statuses: unknown id or version; table not published yet; a request it cannot use.
STATUSES = ((NotFound, 404), (MissingTableError, 503), (RequestRefused, 422))


class Refused(Exception):
    """An answer that is an HTTP error: its status and a short detail that never echoes the input."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def answer(lookup: Callable[..., dict[str, Any]], *args: Any, max_items: int = MAX_ITEMS, **kwargs: Any) -> dict:
    """``lookup(*args, **kwargs)`` with at most ``max_items`` items, or :class:`Refused` with its status."""
    try:
        result = lookup(*args, **kwargs)
    except (NotFound, MissingTableError, RequestRefused) as exc:
        status = next(code for kind, code in STATUSES if isinstance(exc, kind))
        raise Refused(status, str(exc)) from None
    return {**result, "items": result["items"][:max_items]}


def invalid(fields: Iterable[str]) -> Refused:
    """400 naming the parameters, without echoing what was sent (it may be long or hostile)."""
    return Refused(400, f"invalid {', '.join(sorted(fields)) or 'request'}")


_ID, _VERSION = TypeAdapter(IdText), TypeAdapter(Version)


def checked(user_id: str, version: str | None) -> tuple[str, int | None]:
    """A path's user id and a query's version as the API's declarations take them; 400 otherwise."""
    bad = []
    for name, adapter, value in (("user_id", _ID, user_id), ("version", _VERSION, version)):
        try:
            if value is not None:
                adapter.validate_python(value)
        except ValidationError:
            bad.append(name)
    if bad:
        raise invalid(bad)
    return user_id, None if version is None else _VERSION.validate_python(version)
