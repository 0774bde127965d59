"""Domain errors. No HTTP in here: `dispatch.api.errors` maps them to answers.

    DispatchError
    ├── NotFound                 an id that does not exist
    ├── Conflict                 a state change that is not allowed now
    │   └── VehicleUnavailable   the vehicle was claimed by someone else first
    ├── Forbidden                the caller's role or binding does not allow it
    ├── InvalidInput             input that passed the schema but makes no sense
    ├── TriageError
    ├── GeoError
    │   └── (dispatch.geo.aml.AmlParseError)
    └── HandoverError
"""

from __future__ import annotations


class DispatchError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DispatchError):
    pass


class Conflict(DispatchError):
    pass


class VehicleUnavailable(Conflict):
    pass


class Forbidden(DispatchError):
    pass


class InvalidInput(DispatchError):
    pass


class TriageError(DispatchError):
    pass


class GeoError(DispatchError):
    pass


class HandoverError(DispatchError):
    pass
