"""Custom search attributes the workflows keep current, so operators can find flows in the Temporal UI."""

from temporalio.common import SearchAttributeKey

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
