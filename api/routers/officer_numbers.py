"""`POST /api/GetControlNumbersForEO` (research §2.10, §5.3): an enrolment officer takes a quota of pool
numbers for offline enrolments; his pool-mode intents use them before the free pool.

openIMIS reads the officer from the caller's JWT user; payflow's callers are OAuth clients (a phone
front end acting for many officers), so the officer comes in the body as `OfficerCode`. The rest is
openIMIS': the count handed out is `MaxControlNumberForEO − AvailableControlNumbers`, the answer is
`{header:{error, errorMessage}, controlNumbers:[...]}` camel-cased, with header codes 4001-4003.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse

from api.auth import Principal, authorize
from api.errors import OPENIMIS_TAG
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
    try:
        b = body(await read_json(request))
        officer_code = as_str(b.get("OfficerCode"), "OfficerCode must be text")
        product_code = as_str(b.get("ProductCode"), "ProductCode must be text")
        available = as_int(b.get("AvailableControlNumbers"), "AvailableControlNumbers must be an integer")
        if not officer_code or not product_code:
            raise WireError("OfficerCode and ProductCode are required")
    except WireError as err:
        return JSONResponse({"error_message": str(err)}, status_code=400)
    pool = PoolStore(request.app.state.sessions)
    officer = await pool.officer(officer_code)
    if officer is None:
        return JSONResponse({"error_message": "Officer not found"}, status_code=400)
    product = await pool.product(product_code)
    if product is None:
        return JSONResponse({"error_message": "Product not found"}, status_code=400)
    wanted = request.app.state.settings.pool_officer_max - (available or 0)
    if wanted <= 0:
        return _answer(THRESHOLD_REACHED, "ThresholdReached")
    rows = await pool.reserve(officer_code, product_code, wanted)
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
