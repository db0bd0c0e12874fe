"""The GePG adapter of the bulk-bill call (research §5.3, §5.2): one signed `gepgBillSubReq` with a
`BillTrxInf` per pool number, posted as a single bill is (`GepgGateway.send`).

GePG's synchronous ack only says whether it took the bills (7101; 7226 "Duplicate Bill Information"
when a retry meets the bills of an earlier attempt). The numbers come later in `gepgBillSubResp`
callbacks, which the API pools by the request id each bill id carries (`pool-<request id>-<n>`,
api/gepg_pool.py); so an accepted reply has no bills and the request stays pending until then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from activities.gepg_gateway import BILL_PATH, GepgGateway, bill_reply
from domain.pool import BulkOrder, BulkReply, pool_bill_id
from gepg import messages
from infra.settings import Settings

POOL_PAYER = "CHF IMIS"
"""PyrName of a pool bill, which has no payer yet; PyrId is the bill id (research §5.3)."""


def pool_bills(settings: Settings, order: BulkOrder, generated_at: datetime) -> list[messages.Bill]:
    """The order's bills: the product's lump sum each, one item referring to the product."""
    expires_at = order.expires_at.astimezone(UTC).replace(tzinfo=None)
    item = messages.BillItem(order.product_code, order.amount, settings.gepg_gfs_code)
    return [
        messages.Bill(
            bill_id=(bill_id := pool_bill_id(order.request_id, n)),
            sub_sp_code=settings.gepg_sub_sp_code,
            sp_sys_id=settings.gepg_system_id,
            amount=order.amount,
            expires_at=expires_at,
            generated_at=generated_at,
            payer_id=bill_id,
            payer_name=POOL_PAYER,
            payer_phone="",
            items=[item],
        )
        for n in range(1, order.count + 1)
    ]


class GepgBulkBiller:
    def __init__(self, settings: Settings, gepg: GepgGateway) -> None:
        self._settings = settings
        self._gepg = gepg

    async def request_bulk(self, order: BulkOrder) -> BulkReply:
        """Post the bills; taken (7101, or 7226 on a retry) or refused with "code:description"."""
        bills = pool_bills(self._settings, order, datetime.now(UTC).replace(tzinfo=None))
        inner = messages.bill_submission(self._settings.gepg_sp_code, bills)
        reply = await self._gepg.send(BILL_PATH, "default.sp.in", inner, messages.BILL_REQUEST_ACK)
        taken, code, message = bill_reply(messages.read_status_ack(reply))
        message = "numbers follow by callback" if taken else message
        return BulkReply(accepted=taken, code=code, message=message)
