"""The delta a re-settlement (or a cancel) emits, as Scalepoint's own v3 event tests show it (SPEC §4).

A consumer sums every `case_settled` of a case, each line's direction read from its parties, so a
delta carries what changed and nothing twice:
- the summary holds signed differences; every line total is ≥ 0 and its parties say the direction;
- an expense that grew keeps its type (payer → payee); one that shrank or went is a `creditNote`
  payee → payer, VAT included; one unchanged appears as a 0 line only when its obligations moved;
- obligations keep their type and split the net change: against a grown expense a grown reduction is
  claimant → claimant up to the growth, the rest claimant → insurer, and a fallen one insurer →
  claimant; against a credit note a fallen reduction is insurer → insurer up to the credit, the rest
  insurer → claimant, and a grown one claimant → insurer; `compensation` carries whatever net change
  remains; when Scalepoint pays out, each flow between insurer and claimant has two legs through it;
- payments carry the change of what is paid between each pair of parties.
Lines are paired by what they are: an expense by type, currency, parties and `uuid`, the rest by the
expense they belong to; parties by their scheme id (else name and roles), never by the document-local
`$id`. A party absent from the new revision keeps its old `$id` unless the new one took it.
The `case_settled` event itself (whole, or this delta) is built here too.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain import settlement as wire

PartyKey = tuple[str, ...]
Group = tuple[str, PartyKey, PartyKey]
"""An expense's currency, payer and payee: whose money its obligations and payments move."""
Flow = tuple[str, PartyKey, PartyKey, Decimal]
REDUCTIONS = ("depreciation", "deductible", "manualReduction", "vat", "creditNote")
"""Obligation types that reduce what the payee gets, in the order a credit or growth absorbs them."""
ZERO = Decimal(0)
LINE_IDS = uuid.UUID("4b8e2f1a-7c3d-4e5f-9a0b-1c2d3e4f5a6b")


def party_key(party: wire.Party) -> PartyKey:
    if party.id is not None:
        return ("id", party.id.schemeId, party.id.value)
    return ("name", party.name, *sorted(party.roles))


@dataclass
class _Revision:
    """One revision with every reference resolved to a party identity and an expense group."""

    parties: dict[PartyKey, wire.Party] = field(default_factory=dict)
    expenses: dict[tuple[Group, str, str], list[wire.Expense]] = field(default_factory=dict)
    obligations: dict[Group, list[Flow]] = field(default_factory=lambda: defaultdict(list))
    payments: dict[Group, list[tuple[PartyKey, PartyKey, wire.Payment]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _resolve(doc: wire.SettlementInput | None, groups: list[Group]) -> _Revision:
    out = _Revision()
    if doc is None:
        return out
    key = {p.id_: party_key(p) for p in doc.parties}
    out.parties = {party_key(p): p for p in doc.parties}
    of_expense: dict[str, Group] = {}
    for e in doc.expenses:
        group = (e.currencyCode, key[e.payerParty.ref], key[e.payeeParty.ref])
        of_expense[e.id_] = group
        out.expenses.setdefault((group, e.expenseType, e.uuid or e.id or ""), []).append(e)
    for o in doc.obligations:
        payer, payee = key[o.payerParty.ref], key[o.payeeParty.ref]
        group = of_expense.get(o.expense.ref) if o.expense else None
        group = group or _group_of(o.currencyCode, payer, payee, groups)
        out.obligations[group].append((o.obligationType, payer, payee, o.total))
    for p in doc.payments:
        payer, payee = key[p.payerParty.ref], key[p.payeeParty.ref]
        linked = [of_expense[r.ref] for r in p.expenses if r.ref in of_expense]
        group = linked[0] if linked else _group_of(p.currencyCode, payer, payee, groups)
        out.payments[group].append((payer, payee, p))
    return out


def _group_of(currency: str, payer: PartyKey, payee: PartyKey, groups: list[Group]) -> Group:
    """The expense an unlinked line belongs to: same parties, else a reduction its payee (or payer)
    bears itself, else a leg from its payer or to its payee (through an intermediary)."""
    same = [g for g in groups if g[0] == currency]
    rules = (
        lambda g: {payer, payee} == {g[1], g[2]},
        lambda g: payer == payee == g[2],
        lambda g: payer == payee == g[1],
        lambda g: payer == g[1] or payee == g[2],
    )
    for rule in rules:
        for g in same:
            if rule(g):
                return g
    return (currency, payer, payee)


def _groups(docs: Iterable[wire.SettlementInput | None]) -> list[Group]:
    found: dict[Group, None] = {}
    for doc in docs:
        if doc is not None:
            key = {p.id_: party_key(p) for p in doc.parties}
            for e in doc.expenses:
                found[(e.currencyCode, key[e.payerParty.ref], key[e.payeeParty.ref])] = None
    return list(found)


def _owed(flows: Iterable[tuple[PartyKey, PartyKey, Decimal]]) -> dict[PartyKey, Decimal]:
    owed: dict[PartyKey, Decimal] = defaultdict(Decimal)
    for payer, payee, total in flows:
        owed[payee] += total
        owed[payer] -= total
    return owed


def _settle(owed: dict[PartyKey, Decimal]) -> Iterator[tuple[PartyKey, PartyKey, Decimal]]:
    """Flows that move exactly `owed` (net, per party): debtors pay creditors, in a stable order."""
    debtors = sorted([k, -v] for k, v in owed.items() if v < 0)
    creditors = sorted([k, v] for k, v in owed.items() if v > 0)
    while debtors and creditors:
        amount = min(debtors[0][1], creditors[0][1])
        yield debtors[0][0], creditors[0][0], amount
        for side in (debtors, creditors):
            side[0][1] -= amount
            if side[0][1] == 0:
                side.pop(0)


def _obligation_flows(
    group: Group, grown: Decimal, reductions: dict[str, Decimal], owed: dict[PartyKey, Decimal]
) -> list[Flow]:
    """Scalepoint's split of a group's change (see the module docstring): `grown` is the expense's
    change, `reductions` each reduction type's, `owed` the net change per party of all obligations."""
    _, payer, payee = group
    room = abs(grown)
    flows: list[Flow] = []
    for kind in REDUCTIONS:
        change = reductions.get(kind, ZERO)
        absorbing = change > 0 if grown >= 0 else change < 0
        inside = min(abs(change), room) if absorbing else ZERO
        room -= inside
        bearer = payee if grown >= 0 else payer
        flows.append((kind, bearer, bearer, inside))
        rest = abs(change) - inside
        flows.append((kind, payee, payer, rest) if change > 0 else (kind, payer, payee, rest))
    moved = _owed((a, b, x) for _, a, b, x in flows)
    residual = {k: owed.get(k, ZERO) - moved.get(k, ZERO) for k in {*owed, *moved}}
    flows += [("compensation", a, b, x) for a, b, x in _settle(residual)]
    return [f for f in flows if f[3] > 0]


def _through(group: Group, flows: list[Flow], via: PartyKey | None) -> list[Flow]:
    """Each flow between the group's payer and payee as two legs through `via` (Scalepoint pays out)."""
    ends = {group[1], group[2]}
    if via is None:
        return flows
    out: list[Flow] = []
    for kind, a, b, x in flows:
        out += [(kind, a, via, x), (kind, via, b, x)] if a != b and {a, b} == ends else [(kind, a, b, x)]
    return out


def _intermediary(group: Group, revisions: Iterable[_Revision]) -> PartyKey | None:
    """Who carries the group's money between its payer and payee (Scalepoint), if anyone does."""
    _, payer, payee = group
    for r in revisions:
        lines = [(a, b) for _, a, b, _ in r.obligations.get(group, [])]
        lines += [(a, b) for a, b, _ in r.payments.get(group, [])]
        for a, b in lines:
            if a == payer and b not in (payer, payee):
                return b
            if b == payee and a not in (payer, payee):
                return a
    return None


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, ZERO) if present else None


class _Event:
    """The delta's lines as they are built, with their `$id`s and references."""

    def __init__(self, new: _Revision, old: _Revision, seed: str) -> None:
        self.seed = seed
        self.parties: dict[PartyKey, wire.Party] = {}
        taken = {p.id_ for p in new.parties.values()}
        free = (f"/parties/{n}" for n in range(len(taken) + len(old.parties) + 1))
        for key, party in new.parties.items():
            self.parties[key] = party
        for key, party in old.parties.items():
            if key not in self.parties:
                id_ = party.id_ if party.id_ not in taken else next(i for i in free if i not in taken)
                taken.add(id_)
                self.parties[key] = party.model_copy(update={"id_": id_})
        self.expenses: list[wire.Expense] = []
        self.obligations: list[wire.Obligation] = []
        self.payments: list[wire.Payment] = []

    def ref(self, key: PartyKey) -> wire.Ref:
        return wire.Ref(ref=self.parties[key].id_)

    def uuid(self, name: str) -> str:
        return str(uuid.uuid5(LINE_IDS, f"{self.seed}/{name}"))


def delta(
    new: wire.SettlementInput | None, old: wire.SettlementInput, seed: str, day: str
) -> wire.SettlementInput:
    """What changed from `old` to `new` (None: the revision was cancelled and nothing replaces it).
    `seed` (the revision token) derives the new lines' uuids; `day` dates a payment with no other date."""
    groups = _groups([new, old])
    now, was = _resolve(new, groups), _resolve(old, groups)
    event = _Event(now, was, seed)
    unlinked = [g for r in (now, was) for g in (*r.obligations, *r.payments) if g not in groups]
    for group in dict.fromkeys(groups + unlinked):
        _group_delta(event, group, now, was, day)
    base = new or old
    summary = wire.Summary(
        manualReduction=_figure(new, "manualReduction") - _figure(old, "manualReduction"),
        shareOfVat=_figure(new, "shareOfVat") - _figure(old, "shareOfVat"),
        deductible=_figure(new, "deductible") - _figure(old, "deductible"),
        depreciation=_figure(new, "depreciation") - _figure(old, "depreciation"),
    )
    return base.model_copy(
        update={
            "summary": summary,
            "parties": list(event.parties.values()),
            "expenses": event.expenses,
            "obligations": event.obligations,
            "payments": event.payments,
        }
    )


def _figure(doc: wire.SettlementInput | None, name: str) -> Decimal:
    return (getattr(doc.summary, name) or ZERO) if doc is not None else ZERO


def _group_delta(event: _Event, group: Group, now: _Revision, was: _Revision, day: str) -> None:
    currency = group[0]
    emitted: list[str] = []
    grown = ZERO
    keys = [k for k in now.expenses if k[0] == group] + [
        k for k in was.expenses if k[0] == group and k not in now.expenses
    ]
    for key in keys:
        new_lines, old_lines = now.expenses.get(key, []), was.expenses.get(key, [])
        change = sum((e.total for e in new_lines), ZERO) - sum((e.total for e in old_lines), ZERO)
        grown += change
        if change:
            parts = {
                name: _diff(
                    _sum(getattr(e, name) for e in new_lines), _sum(getattr(e, name) for e in old_lines)
                )
                for name in ("subtotal", "vat")
            }
            emitted.append(_expense(event, group, (new_lines or old_lines)[0], change, parts))
    owed = _owed((a, b, x) for _, a, b, x in now.obligations.get(group, []))
    for k, v in _owed((a, b, x) for _, a, b, x in was.obligations.get(group, [])).items():
        owed[k] -= v
    reductions: dict[str, Decimal] = defaultdict(Decimal)
    for kind, _, _, total in now.obligations.get(group, []):
        reductions[kind] += total
    for kind, _, _, total in was.obligations.get(group, []):
        reductions[kind] -= total
    via = _intermediary(group, (now, was))
    flows = _through(group, _obligation_flows(group, grown, reductions, owed), via)
    paid = _owed((a, b, p.total) for a, b, p in now.payments.get(group, []))
    for k, v in _owed((a, b, p.total) for a, b, p in was.payments.get(group, [])).items():
        paid[k] -= v
    payments = list(_settle(paid))
    if not emitted and (flows or payments):
        same = [k for k in keys if k in now.expenses]
        if same:  # unchanged, yet its obligations moved: a 0 line, as Scalepoint sends
            emitted.append(_expense(event, group, now.expenses[same[0]][0], ZERO, {}))
    expense_ref = wire.Ref(ref=emitted[0]) if emitted else None
    first = len(event.obligations)
    for kind, a, b, total in flows:
        event.obligations.append(
            wire.Obligation(
                **{"$id": f"/obligations/{len(event.obligations)}"},
                obligationType=kind,  # type: ignore[arg-type]
                total=total,
                currencyCode=currency,
                payerParty=event.ref(a),
                payeeParty=event.ref(b),
                expense=expense_ref,
            )
        )
    obligation_refs = [wire.Ref(ref=o.id_) for o in event.obligations[first:]]
    sent = [*now.payments.get(group, []), *was.payments.get(group, [])]
    for n, (a, b, total) in enumerate(payments):
        means = next((p.paymentMeans for x, y, p in sent if (x, y) == (a, b)), None)
        event.payments.append(
            wire.Payment(
                uuid=event.uuid(f"payment/{group}/{n}"),
                dueDate=sent[0][2].dueDate if sent else day,
                total=total,
                currencyCode=currency,
                payerParty=event.ref(a),
                payeeParty=event.ref(b),
                paymentMeans=means,
                expenses=[wire.Ref(ref=e) for e in emitted],
                obligations=obligation_refs,
            )
        )


def _diff(new: Decimal | None, old: Decimal | None) -> Decimal | None:
    return None if new is None and old is None else (new or ZERO) - (old or ZERO)


def _expense(
    event: _Event, group: Group, base: wire.Expense, change: Decimal, parts: dict[str, Decimal | None]
) -> str:
    """Append the expense line for `change`: its own type when it grew, a credit note when it fell."""
    id_ = f"/expenses/{len(event.expenses)}"
    (_, payer, payee), credit = group, change < 0
    update = {
        "id_": id_,
        "total": abs(change),
        **{name: abs(v) if v is not None else None for name, v in parts.items()},
        "payerParty": event.ref(payee if credit else payer),
        "payeeParty": event.ref(payer if credit else payee),
    }
    if credit:
        update |= {"expenseType": "creditNote", "uuid": event.uuid(f"credit/{group}/{base.uuid or base.id}")}
    event.expenses.append(base.model_copy(update=update))
    return id_


def case_settled(
    case: wire.CaseRef,
    revision_token: str,
    correlation_id: str,
    at: datetime,
    doc: wire.SettlementInput | None,
    previous: wire.SettlementInput | None,
) -> dict[str, Any]:
    """The `case_settled` event: the whole settlement, or the delta against `previous` (the revision
    last emitted); `doc` None reverses `previous` (its revision was cancelled and nothing replaces it)."""
    if previous is None:
        assert doc is not None
        body = doc
    else:
        body = delta(doc, previous, revision_token, at.date().isoformat())
    return {
        "eventType": "case_settled",
        "payloadVersion": wire.PAYLOAD_VERSION,
        "correlationId": correlation_id,
        "timestamp": at.isoformat(),
        "case": {
            "uuid": case.uuid,
            "token": case.token,
            "number": case.number,
            **({"externalClaimId": case.externalClaimId} if case.externalClaimId else {}),
        },
        "settlement": {
            "approvedBy": body.approvedBy.model_dump(mode="json", exclude_none=True),
            "summary": body.summary.model_dump(mode="json", exclude_none=True),
            "revisionToken": revision_token,
        },
        **body.model_dump(
            mode="json", include={"parties", "expenses", "obligations", "payments"}, exclude_none=True
        ),
    }
