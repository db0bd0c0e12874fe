"""`POST /api/GetControlNumbersForEO` (research §2.10, §5.3): an enrolment officer takes a quota of pool
numbers for offline enrolments; his pool-mode intents use them before the free pool.

openIMIS reads the officer from the caller's JWT user; payflow's callers are OAuth clients (a phone
front end acting for many officers), so the officer comes in the body as `OfficerCode`. The rest is
openIMIS': the count handed out is `MaxControlNumberForEO − AvailableControlNumbers`, the answer is
`{header:{error, errorMessage}, controlNumbers:[...]}` camel-cased, with header codes 4001-4003.

The officers and the pool are the deployment's: only clients of its `registry_tenant` hand numbers
to its officers (another tenant gets 403 before any officer is looked up, so it learns no phone
number either). The client's `AvailableControlNumbers` may ask for fewer numbers, never for more: it
must lie between 0 and the quota, and the store caps what an officer holds unused at the quota
whatever the client says.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse

from api.auth import Principal, authorize
from api.errors import OPENIMIS_TAG, ApiError
from api.openimis_schemas import CONTROL_NUMBERS_FOR_EO, request_body
from api.openimis_wire import WireError, as_int, as_str, body
from api.routers.openimis import read_json
from store.pool import PoolStore

router = APIRouter(prefix="/api", tags=[OPENIMIS_TAG])
SUCCESS, NONE_AVAILABLE, THRESHOLD_REACHED = 4001, 4002, 4003


def _answer(code: int, message: str, numbers: list[dict[str, object]] | None = None) -> JSONResponse:
    return JSONResponse({"header": {"error": code, "errorMessage": message}, "controlNumbers": numbers or []})


@router.post(
    "/GetControlNumbersForEO",
    summary="Hand pool numbers to an enrolment officer",
    openapi_extra=request_body(CONTROL_NUMBERS_FOR_EO),
)
async def get_control_numbers_for_eo(
    request: Request, principal: Principal = Security(authorize, scopes=["payments:write"])
) -> JSONResponse:
    settings = request.app.state.settings
    if principal.tenant != settings.registry_tenant:
        raise ApiError(
            403, "not_registry_tenant", "Only the deployment's registry tenant hands out officers' numbers."
        )
    quota: int = settings.pool_officer_max
    try:
        b = body(await read_json(request))
        officer_code = as_str(b.get("OfficerCode"), "OfficerCode must be text")
        product_code = as_str(b.get("ProductCode"), "ProductCode must be text")
        available = as_int(b.get("AvailableControlNumbers"), "AvailableControlNumbers must be an integer")
        if not officer_code or not product_code:
            raise WireError("OfficerCode and ProductCode are required")
        if not 0 <= (available or 0) <= quota:
            raise WireError(f"AvailableControlNumbers must be between 0 and {quota}")
    except WireError as err:
        return JSONResponse({"error_message": str(err)}, status_code=400)
    pool = PoolStore(request.app.state.sessions)
    officer = await pool.officer(officer_code)
    if officer is None:
        return JSONResponse({"error_message": "Officer not found"}, status_code=400)
    product = await pool.product(product_code)
    if product is None:
        return JSONResponse({"error_message": "Product not found"}, status_code=400)
    wanted = quota - (available or 0)
    rows = await pool.reserve(officer_code, product_code, wanted, quota=quota) if wanted > 0 else []
    if not rows and (wanted <= 0 or await pool.held(officer_code, product_code) >= quota):
        return _answer(THRESHOLD_REACHED, "ThresholdReached")
    if not rows:
        return _answer(NONE_AVAILABLE, "NoControlNumberAvailable")
    numbers: list[dict[str, object]] = [
        {
            "controlNumberId": row.id,
            "billId": row.bill_id,
            "productCode": row.product_code,
            "officerCode": officer_code,
            "phoneNumber": officer.phone,
            "controlNumber": row.control_number,
            "amount": float(product.lump_sum),
        }
        for row in rows
    ]
    return _answer(SUCCESS, "Success", numbers)
