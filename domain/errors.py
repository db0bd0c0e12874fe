"""The error taxonomy of activities: logic errors that no retry can mend.

Temporal reports an exception raised by an activity as an ApplicationError typed by its class name, so
these plain classes are named in every retry policy (`LOGIC_ERRORS`) and fail at once, while outages
(database, gateway, SMS provider) stay ordinary errors and retry with backoff until they end.
"""

from __future__ import annotations


class NotFound(LookupError):
    """A record the step works on does not exist."""


class Refused(Exception):
    """The step is not allowed in the record's current state."""


class Conflict(Exception):
    """The step contradicts what was recorded before (e.g. one transaction for two payments)."""


LOGIC_ERRORS = [NotFound.__name__, Refused.__name__, Conflict.__name__, "ReceiptConflict"]
