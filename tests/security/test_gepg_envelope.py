"""Issue 20 deliver 7: generated GePG envelopes. From one validly signed payment notification,
hypothesis draws a prolog (declarations, DOCTYPE and entities, comments), the envelope's root
(namespaces, attributes), edits of its children (a forged element beside the signed one, the signed
one wrapped, duplicated, reordered or altered inside, comments, whitespace, a second signature) and
trailing data. Every variant is either read exactly as the signed bytes say, or refused as the route
refuses it (`MessageError`: 7242, its `SignatureError`: 7303) and nothing else. Most examples stay at
the domain level (parse, verify, read); a few named ones go through the real route, where a refused
one leaves no row and an accepted one is logged with the signed values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from gepg import messages
from gepg.signing import Signer, Verifier
from gepg.xml import DECLARATION, MessageError, serialise, verified
from store.models import PaymentNotification
from tests.security.test_gepg_wrapping import REFUSED, gepg_post, gepg_signer
from tests.stack import StackFactory

EXAMPLES = 400
TAG = messages.PAYMENT
INFO = messages.PaymentInfo(
    "TX1", "SP001", "RC1", "42", "991234567890", Decimal("21000"), Decimal("21000"),
    datetime(2026, 3, 1, 10, 30), "0681333045", "Amina", "RC1", "M-Pesa",
)  # fmt: skip
FORGED = replace(INFO, trx_id="TX-FORGED", paid_amount=Decimal("1"))
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Message:
    """The pieces a variant is made of, for one signer."""

    signed: bytes
    signature: bytes
    forged: bytes

    @classmethod
    def of(cls, signer: Signer) -> Message:
        signed = serialise(messages.payment_info([INFO]))
        return cls(signed, signer.sign(signed).encode(), serialise(messages.payment_info([FORGED])))

    def signed_as(self, form: str) -> bytes:
        """The signed element where and how a variant puts it."""
        start, end = f"<{TAG}>".encode(), f"</{TAG}>".encode()
        body = self.signed.removeprefix(start).removesuffix(end)
        return {
            "as is": self.signed,
            "in x": b"<x>%s</x>" % self.signed,
            "in cdata": b"<x><![CDATA[%s]]></x>" % self.signed,
            "in comment": b"<!--%s-->" % self.signed,
            "comment inside": start + b"<!--c-->" + body + end,
            "whitespace inside": start + b"\n  " + body + end,
            "namespaced": b'<%s xmlns="urn:gepg">%s%s' % (TAG.encode(), body, end),
            "prefixed": b'<g:%s xmlns:g="urn:g">%s</g:%s>' % (TAG.encode(), body, TAG.encode()),
            "attribute": b'<%s Id="a">%s%s' % (TAG.encode(), body, end),
            "absent": b"",
        }[form]

    def forged_as(self, end_tag: str, entity: bool) -> bytes:
        """A forged element of the same name; its end tag spelt so a byte search may miss it."""
        forged = self.forged.replace(b">TX-FORGED<", b">&forged;<") if entity else self.forged
        return forged.replace(f"</{TAG}>".encode(), end_tag.format(TAG).encode())

    def signature_as(self, kind: str) -> bytes:
        value = {"valid": self.signature, "other": self.signature[::-1], "empty": b""}[kind]
        return b"<gepgSignature>%s</gepgSignature>" % value


SIGNED_FORMS = [
    "as is", "in x", "in cdata", "in comment", "comment inside", "whitespace inside", "namespaced",
    "prefixed", "attribute", "absent",
]  # fmt: skip
END_TAGS = ["</{}>", "</{} >", "</{}\n>"]
FILLERS = [b"<!--c-->", b"\n  ", b"<?pi x?>", b"junk", b"<x/>", b"&amp;"]
PROLOGS = [
    b"", DECLARATION, b'<?xml version="1.0"?>', b"<?xml version='1.0' encoding='utf-8'?>\n",
    b'<?xml version="1.1" encoding="UTF-8"?>', b'<?xml version="1.0" encoding="ISO-8859-1"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>', b"\xef\xbb\xbf" + DECLARATION, b"\n",
    b"<!DOCTYPE Gepg>", b'<!DOCTYPE Gepg [<!ENTITY forged "TX-FORGED">]>',
    b'<!DOCTYPE Gepg [<!ENTITY forged SYSTEM "file:///etc/hostname">]>',
    DECLARATION + b'<!DOCTYPE Gepg [<!ENTITY forged "TX-FORGED">]>', b"<!--c-->", b"<?pi x?>",
]  # fmt: skip
ROOTS = [
    (b"<Gepg>", b"</Gepg>"), (b'<Gepg xmlns="urn:gepg">', b"</Gepg>"),
    (b'<g:Gepg xmlns:g="urn:g">', b"</g:Gepg>"), (b"<Gepg >", b"</Gepg >"), (b"<gepg>", b"</gepg>"),
    (b'<Gepg Id="a">', b"</Gepg>"),
]  # fmt: skip
EPILOGS = [b"", b"\n", b"<!--c-->", b"<x/>", b"junk", b"<?pi x?>", b"\x00", b"<Gepg></Gepg>"]
LAST = 9
"""A position past the end: appended."""


@dataclass(frozen=True)
class Variant:
    """Where the signed element, forged ones, signatures and fillers go among the root's children
    (each inserted at its position in turn), in which prolog, root and epilog."""

    signed: str = "as is"
    forged: tuple[tuple[int, str, bool], ...] = ()
    signatures: tuple[tuple[int, str], ...] = ((LAST, "valid"),)
    fillers: tuple[tuple[int, int], ...] = ()
    prolog: int = 0
    root: int = 0
    epilog: int = 0

    def render(self, m: Message) -> bytes:
        children = [m.signed_as(self.signed)]
        for at, end_tag, entity in self.forged:
            children.insert(at, m.forged_as(end_tag, entity))
        for at, kind in self.signatures:
            children.insert(at, m.signature_as(kind))
        for at, filler in self.fillers:
            children.insert(at, FILLERS[filler])
        start, end = ROOTS[self.root]
        return PROLOGS[self.prolog] + start + b"".join(children) + end + EPILOGS[self.epilog]


def usually(common: object, others: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """`common` half the time: most variants keep most of the valid message."""
    return st.one_of(st.just(common), others)


AT = st.sampled_from([0, 1, 2, LAST])
VARIANTS = st.builds(
    Variant,
    signed=usually("as is", st.sampled_from(SIGNED_FORMS)),
    forged=st.lists(st.tuples(AT, st.sampled_from(END_TAGS), st.booleans()), max_size=2).map(tuple),
    signatures=usually(
        ((LAST, "valid"),),
        st.lists(st.tuples(AT, st.sampled_from(["valid", "other", "empty"])), max_size=2).map(tuple),
    ),
    fillers=st.lists(st.tuples(AT, st.integers(0, len(FILLERS) - 1)), max_size=2).map(tuple),
    prolog=usually(0, st.integers(0, len(PROLOGS) - 1)),
    root=usually(0, st.integers(0, len(ROOTS) - 1)),
    epilog=usually(0, st.integers(0, len(EPILOGS) - 1)),
)
WRAPPED = Variant(signed="in x", forged=((1, "</{} >", False),))
"""The issue's body: the signed element in `<x>`, a forged one after it ending `</gepgPmtSpInfo >`."""
MESSAGE = Message.of(Signer(KEY))
PEER = Verifier(KEY.public_key())


def read(raw: bytes, peer: Verifier) -> list[messages.PaymentInfo] | None:
    """What the route reads from `raw`, or None when it refuses it (7242/7303); anything else raised
    is a defect (a 500, or a message half read)."""
    try:
        envelope = verified(raw, TAG, peer)
        return messages.read_payment_info(envelope)
    except MessageError:
        return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(VARIANTS)
@example(Variant())  # the message as signed
@example(Variant(fillers=((1, 1), (0, 1)), prolog=1, epilog=1))  # whitespace around: no data
@example(WRAPPED)
@example(Variant(forged=((0, "</{}>", True),), prolog=10))
def test_every_envelope_is_read_as_signed_or_refused(variant: Variant) -> None:
    raw = variant.render(MESSAGE)
    assert read(raw, PEER) in (None, [INFO]), raw


NAMED = {
    "as signed, declaration and whitespace": (Variant(fillers=((1, 1),), prolog=1, epilog=1), True),
    "the issue's wrapping": (WRAPPED, False),
    "entity in a forged element": (Variant(forged=((0, "</{}>", True),), prolog=10), False),
    "forged after the signed one": (Variant(forged=((1, "</{}>", False),)), False),
    "second signature": (Variant(signatures=((LAST, "valid"), (LAST, "other"))), False),
    "namespaced root": (Variant(root=1), False),
    "trailing message": (Variant(epilog=7), False),
}


async def test_named_envelopes_through_the_route(make_stack: StackFactory) -> None:
    """Refused ones answer 7242/7303 and leave no row; the accepted one is logged as GePG signed it
    (an unknown control number, code 3)."""
    async with make_stack(gepg=True, with_worker=False) as s:
        message = Message.of(gepg_signer(s))
        for name, (variant, accepted) in NAMED.items():
            code = await gepg_post(s, "/api/GetPaymentData", variant.render(message), messages.PAYMENT_ACK)
            async with s.sessions() as session:
                logged = (await session.exec(select(PaymentNotification))).all()
            if not accepted:
                assert code in REFUSED and logged == [], name
                continue
            assert code == "7101", name
            [row] = logged
            assert (row.control_number, row.transaction_id, row.amount) == (
                "991234567890",
                "TX1",
                Decimal(21000),
            )
            async with s.sessions() as session:
                await session.delete(row)
                await session.commit()
