"""`payflow registry import FILE`: load registry JSON, upserting by natural keys so re-imports are safe."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import SessionFactory, transaction
from store.models import Family, Insuree, Location, Officer, Policy, Premium, Product


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationIn(_In):
    code: str
    name: str
    type: str
    parent: str | None = None


class ProductIn(_In):
    code: str
    name: str
    location: str | None = None
    lump_sum: Decimal = Decimal("0")
    premium_adult: Decimal = Decimal("0")
    premium_child: Decimal = Decimal("0")
    member_threshold: int = 0
    max_members: int = 0
    general_assembly_lump_sum: Decimal = Decimal("0")
    general_assembly_fee: Decimal = Decimal("0")
    registration_lump_sum: Decimal = Decimal("0")
    registration_fee: Decimal = Decimal("0")
    enrolment_discount_perc: Decimal = Decimal("0")
    enrolment_discount_period: int = 0
    renewal_discount_perc: Decimal = Decimal("0")
    renewal_discount_period: int = 0
    insurance_period: int = 12
    administration_period: int = 0
    grace_period_enrolment: int = 0
    grace_period_renewal: int = 0
    start_cycles: list[str] = []
    date_from: date | None = None
    date_to: date | None = None


class OfficerIn(_In):
    code: str
    name: str = ""
    phone: str | None = None
    location: str | None = None


class InsureeIn(_In):
    chfid: str
    is_head: bool = False
    last_name: str = ""
    other_names: str = ""
    birth_date: date
    relationship: int | None = None
    phone: str | None = None
    language: str | None = None


class PremiumIn(_In):
    amount: Decimal
    pay_date: date
    receipt: str = ""
    pay_type: str = "C"


class PolicyIn(_In):
    product: str
    officer: str | None = None
    stage: str = "N"
    status: int
    enroll_date: date
    start_date: date
    effective_date: date | None = None
    expiry_date: date
    value: Decimal = Decimal("0")
    premiums: list[PremiumIn] = []


class FamilyIn(_In):
    location: str | None = None
    insurees: list[InsureeIn]
    policies: list[PolicyIn] = []


class RegistryFile(_In):
    locations: list[LocationIn] = []
    products: list[ProductIn] = []
    officers: list[OfficerIn] = []
    families: list[FamilyIn] = []


async def _upsert(s: AsyncSession, model: type[SQLModel], key: dict[str, Any], values: dict[str, Any]) -> Any:
    q = select(model)
    for k, v in key.items():
        q = q.where(getattr(model, k) == v)
    row = (await s.exec(q)).first()
    if row is None:
        row = model(**key, **values)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    s.add(row)
    await s.flush()
    return row


REFERENCED: dict[str, type[SQLModel]] = {"location": Location, "product": Product, "officer": Officer}


async def import_registry(sessions: SessionFactory, data: RegistryFile) -> dict[str, int]:
    """Import everything in one transaction: a bad file changes nothing."""
    ids: dict[str, int] = {}
    counts = {"locations": 0, "products": 0, "officers": 0, "families": 0, "insurees": 0, "policies": 0}

    async def ref(code: str | None, what: str) -> int | None:
        """A code from this file, or one already in the registry (imports can be incremental)."""
        if code is None:
            return None
        if f"{what}:{code}" not in ids:
            model = REFERENCED[what]
            found = (await s.exec(select(model.id).where(model.code == code))).first()  # type: ignore[attr-defined]
            if found is None:
                raise ValueError(f"unknown {what} {code!r}")
            ids[f"{what}:{code}"] = found
        return ids[f"{what}:{code}"]

    async with transaction(sessions) as s:
        for loc in data.locations:
            row = await _upsert(
                s,
                Location,
                {"code": loc.code},
                {
                    **loc.model_dump(exclude={"code", "parent"}),
                    "parent_id": await ref(loc.parent, "location"),
                },
            )
            ids[f"location:{loc.code}"] = row.id
            counts["locations"] += 1
        for p in data.products:
            values = p.model_dump(exclude={"code", "location", "start_cycles"})
            values |= {
                "location_id": await ref(p.location, "location"),
                "start_cycles": ",".join(p.start_cycles),
            }
            ids[f"product:{p.code}"] = (await _upsert(s, Product, {"code": p.code}, values)).id
            counts["products"] += 1
        for o in data.officers:
            values = o.model_dump(exclude={"code", "location"}) | {
                "location_id": await ref(o.location, "location")
            }
            ids[f"officer:{o.code}"] = (await _upsert(s, Officer, {"code": o.code}, values)).id
            counts["officers"] += 1
        for fam in data.families:
            heads = [i for i in fam.insurees if i.is_head]
            if len(heads) != 1:
                raise ValueError(f"family of {fam.insurees[0].chfid!r} must have exactly one head")
            existing = (await s.exec(select(Insuree).where(Insuree.chfid == heads[0].chfid))).first()
            family = await s.get(Family, existing.family_id) if existing else None
            family = family or Family()
            family.location_id = await ref(fam.location, "location")
            s.add(family)
            await s.flush()
            counts["families"] += 1
            for ins in fam.insurees:
                await _upsert(
                    s,
                    Insuree,
                    {"chfid": ins.chfid},
                    ins.model_dump(exclude={"chfid"}) | {"family_id": family.id},
                )
                counts["insurees"] += 1
            for pol in fam.policies:
                key = {
                    "family_id": family.id,
                    "product_id": await ref(pol.product, "product"),
                    "start_date": pol.start_date,
                }
                values = pol.model_dump(exclude={"product", "officer", "premiums", "start_date"})
                values["officer_id"] = await ref(pol.officer, "officer")
                policy = await _upsert(s, Policy, key, values)
                for prem in pol.premiums:
                    await _upsert(
                        s,
                        Premium,
                        {"policy_id": policy.id, "receipt": prem.receipt},
                        prem.model_dump(exclude={"receipt"}),
                    )
                counts["policies"] += 1
    return counts
