"""Payment status codes as openIMIS writes them (research §3), with the names our API shows."""

from enum import IntEnum


class PaymentStatus(IntEnum):
    FAILED_MATCH = -5
    FAILED_RECEIVED = -4
    FAILED_CONTROL_NUMBER = -3
    FAILED_REQUEST = -2
    REJECTED = -1
    CANCELLED = 0
    CREATED = 1
    POSTED = 2
    ASSIGNED = 3
    RECEIVED = 4
    MATCHED = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_failure(self) -> bool:
        return self < 0
