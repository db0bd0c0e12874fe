"""Pool bills in GePG's control-number callback (`gepgBillSubResp`, research §5.3): the numbers of a
bulk request, told from an intent's bill by the bill id (`domain.pool.pool_request_of`).

Each request's bills in one callback are pooled in one transaction (`PoolStore.fill`): its GS numbers
all or none, the request then done. A GF bill leaves no row; when none of the request's bills in the
callback is GS, a request without numbers yet is marked failed with the "code:description" reasons,
while one that has numbers (GS and GF mixed) keeps them and stays done: those numbers are billed at
GePG and payable, and the next top-up makes up the shortfall. The pool belongs to the deployment, not
to a tenant, so the gateway client that delivers is not checked against one.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from domain.pool import PooledBill, pool_request_of
from gepg import codes
from gepg.messages import ControlNumberResult
from store.pool import PoolStore

log = logging.getLogger(__name__)


async def receive(pool: PoolStore, results: dict[int, list[ControlNumberResult]]) -> None:
    """Pool each request's GS numbers (`results` by request id, from `domain.pool.pool_request_of`)."""
    for request_id, bills in results.items():
        request = await pool.request(request_id)
        if request is None or request.expires_at is None:
            log.warning("GePG control numbers for unknown (or pre-0012) pool request %s", request_id)
            continue
        settled = [PooledBill(bill_id=r.bill_id, control_number=r.control_number) for r in bills if r.settled]
        failed = [r for r in bills if not r.settled]
        if failed:
            reasons = ";".join(f"{r.bill_id}={codes.reasons(r.code)}" for r in failed)
            log.warning("GePG refused pool bills of request %s: %s", request_id, reasons)
        if settled:
            await pool.fill(request.key, settled, request.expires_at)
        else:
            await pool.fail(request.key, codes.reasons(";".join(dict.fromkeys(r.code for r in failed))))


def split(
    results: list[ControlNumberResult],
) -> tuple[list[ControlNumberResult], dict[int, list[ControlNumberResult]]]:
    """(intent bills, pool bills by request id); ValueError when a bill id is neither form."""
    intents: list[ControlNumberResult] = []
    pools: dict[int, list[ControlNumberResult]] = defaultdict(list)
    for result in results:
        request_id = pool_request_of(result.bill_id)
        if request_id is None:
            int(result.bill_id)  # an intent's bill id is its payment id
            intents.append(result)
        else:
            pools[request_id].append(result)
    return intents, dict(pools)
