"""Custom search attributes the workflows keep current, so operators can find flows in the Temporal UI."""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain.intent import PaymentIntentInput

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
CONTROL_NUMBER = SearchAttributeKey.for_keyword("ControlNumber")
INSURANCE_NUMBERS = SearchAttributeKey.for_keyword_list("InsuranceNumbers")
OFFICER_CODE = SearchAttributeKey.for_keyword("OfficerCode")
TENANT = SearchAttributeKey.for_keyword("Tenant")
CASE_NUMBER = SearchAttributeKey.for_keyword("CaseNumber")
DELIVERY_STATUS = SearchAttributeKey.for_keyword("DeliveryStatus")
ENDPOINT_ID = SearchAttributeKey.for_keyword("EndpointId")

ALL = (
    PAYMENT_STATUS,
    CONTROL_NUMBER,
    INSURANCE_NUMBERS,
    OFFICER_CODE,
    TENANT,
    CASE_NUMBER,
    DELIVERY_STATUS,
    ENDPOINT_ID,
)


def at_start(request: PaymentIntentInput) -> TypedSearchAttributes:
    """What an intent is known by from its request: set when it starts, so the workflow's first
    task has nothing to upsert."""
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(TENANT, request.tenant),
        SearchAttributePair(INSURANCE_NUMBERS, request.insurance_numbers),
    ]
    if request.officer_code:
        pairs.append(SearchAttributePair(OFFICER_CODE, request.officer_code))
    return TypedSearchAttributes(pairs)
