"""Custom search attributes the workflows keep current, so operators can find flows in the Temporal UI.

Search attributes are indexed in clear (the payload codec does not cover them), so none carries
personal data: an insurance number is searchable only by its keyed hash (`insurance_number_hash`,
`payflow codec insurance-hash NUMBER`), in `InsuranceNumberHashes`.
"""

import hashlib
import hmac
from collections.abc import Sequence

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain.intent import PaymentIntentInput

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
CONTROL_NUMBER = SearchAttributeKey.for_keyword("ControlNumber")
INSURANCE_NUMBER_HASHES = SearchAttributeKey.for_keyword_list("InsuranceNumberHashes")
OFFICER_CODE = SearchAttributeKey.for_keyword("OfficerCode")
TENANT = SearchAttributeKey.for_keyword("Tenant")
CASE_NUMBER = SearchAttributeKey.for_keyword("CaseNumber")
DELIVERY_STATUS = SearchAttributeKey.for_keyword("DeliveryStatus")
ENDPOINT_ID = SearchAttributeKey.for_keyword("EndpointId")
PLAIN_INSURANCE_NUMBERS = SearchAttributeKey.for_keyword_list("InsuranceNumbers")
"""Insurance numbers in clear: only upserted again when an unpatched run replays; not registered."""

ALL = (
    PAYMENT_STATUS,
    CONTROL_NUMBER,
    INSURANCE_NUMBER_HASHES,
    OFFICER_CODE,
    TENANT,
    CASE_NUMBER,
    DELIVERY_STATUS,
    ENDPOINT_ID,
)
HASH_CHARS = 20
"""80 bits of HMAC-SHA256 in hex: no collision among a registry's numbers, short enough to type."""


def insurance_number_hash(secret: str, number: str) -> str:
    """The keyed hash an insurance number is searched by; without the secret it cannot be reversed
    by hashing every possible number."""
    return hmac.new(secret.encode(), number.strip().encode(), hashlib.sha256).hexdigest()[:HASH_CHARS]


STARTED = "CREATED"
"""`PaymentStatus` at start: an intent is found among the open ones from its start, and the workflow
writes no status until it rests at another one."""


def at_start(request: PaymentIntentInput, insurance_hashes: Sequence[str]) -> TypedSearchAttributes:
    """What an intent is known by from its request, and its status `STARTED`: set when it starts, so
    the workflow's first task has nothing to upsert. `insurance_hashes`: its insurance numbers, hashed."""
    known = from_request(request, insurance_hashes)
    return TypedSearchAttributes([*known, SearchAttributePair(PAYMENT_STATUS, STARTED)])


def from_request(request: PaymentIntentInput, insurance_hashes: Sequence[str]) -> TypedSearchAttributes:
    """What an intent is known by from its request (what a run started without them upserts)."""
    pairs: list[SearchAttributePair] = [SearchAttributePair(TENANT, request.tenant)]
    if insurance_hashes:
        pairs.append(SearchAttributePair(INSURANCE_NUMBER_HASHES, list(insurance_hashes)))
    if request.officer_code:
        pairs.append(SearchAttributePair(OFFICER_CODE, request.officer_code))
    return TypedSearchAttributes(pairs)


def before_at_start(request: PaymentIntentInput) -> TypedSearchAttributes:
    """What a run recorded before `at_start` existed upserted in its first task (insurance numbers in
    clear): kept so those histories replay; new runs never take this path."""
    pairs = [
        SearchAttributePair(TENANT, request.tenant),
        SearchAttributePair(PLAIN_INSURANCE_NUMBERS, request.insurance_numbers),
    ]
    if request.officer_code:
        pairs.append(SearchAttributePair(OFFICER_CODE, request.officer_code))
    return TypedSearchAttributes(pairs)
