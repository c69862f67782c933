"""Errors Sluice raises about its input, carrying a google.rpc code and the field at fault."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """google.rpc.Code (google/rpc/code.proto)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class SluiceError(Exception):
    """Base error: a google.rpc code, a message that names the fix, and the field path when input was wrong."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class InvalidArgument(SluiceError):
    """The request or the pipeline is wrong; nothing was run or stored."""

    code = Code.INVALID_ARGUMENT


class NotFound(SluiceError):
    """The named job, task or operation does not exist."""

    code = Code.NOT_FOUND


class AlreadyExists(SluiceError):
    """A resource with that id exists already."""

    code = Code.ALREADY_EXISTS


class FailedPrecondition(SluiceError):
    """The resource is in a state that does not allow the request."""

    code = Code.FAILED_PRECONDITION


class Aborted(SluiceError):
    """A concurrent change won a compare-and-set; the caller may retry."""

    code = Code.ABORTED
