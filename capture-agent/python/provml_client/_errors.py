"""What goes wrong in capture, as the one error handler (``init(on_error=…)``) receives it."""

import logging
from typing import Callable, Optional

_log = logging.getLogger("provml_client")

ErrorHandler = Callable[[Exception], None]

#: Kinds that do not lose events: logged as warnings by the default handler.
WARNING_KINDS = frozenset(["retrying", "spilling", "undeclared", "invalid"])


class CaptureError(Exception):
    """What the error handler receives: ``kind`` says what happened, ``count`` to how many events
    (values, for ``undeclared`` and ``invalid``).

    Kinds: ``retrying`` (the transport is down or refused a batch for now; reported once per back-off
    step), ``spilling`` (the transport is down or behind: batches go to the spill spool),
    ``rejected``, ``dropped``, ``failed``, ``undeclared`` (a name the spec does not declare: the value,
    data reference or task run is dropped; once per name), ``invalid`` (a value the contract does not
    allow: dropped; once per name), ``close``, ``internal``.
    """

    def __init__(self, kind: str, message: str, count: int = 0, cause: Optional[BaseException] = None):
        super().__init__(message)
        self.kind = kind
        self.count = count
        self.__cause__ = cause


def default_error_handler(error: Exception) -> None:
    if getattr(error, "kind", None) in WARNING_KINDS:
        _log.warning("provml capture: %s", error)
    else:
        _log.error("provml capture: %s", error)
