"""The GePG envelope `<Gepg><inner>…</inner><gepgSignature>…</gepgSignature></Gepg>`, read safely.

The envelope is matched on the raw bytes and must be exactly that: an optional UTF-8 declaration,
`<Gepg>`, the inner element (no attributes, no namespace), the signature, `</Gepg>`, with nothing
else around them but whitespace. The inner element's bytes, which the signature covers, are then
parsed by themselves and are all there is to read: nothing outside what was signed (a wrapper, a
second element of the same name, a second signature, a DOCTYPE) can be read as data. lxml parses
with entity resolution, DTD loading and network access off and no huge-tree allowance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from gepg.signing import Verifier

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
MAX_BYTES = 1_000_000
"""The largest message accepted: a bulk bill of a few thousand bills fits."""
_PROLOG = rb"(?:\xef\xbb\xbf)?(?:<\?xml version=([\"'])1\.0\1(?: encoding=([\"'])(?i:utf-8)\2)?\s*\?>)?\s*"
_SIGNATURE = rb"\s*<gepgSignature>([A-Za-z0-9+/=\s]*)</gepgSignature>\s*</Gepg>\s*"


class MessageError(ValueError):
    """The body is not a GePG message of the expected kind (answered 7242)."""


class SignatureError(MessageError):
    """The signature does not verify against the peer's certificate (answered 7303)."""


@dataclass(frozen=True)
class Envelope:
    inner: etree._Element
    """Parsed from `signed` alone."""
    signed: bytes
    """The inner element's bytes as received: what the signature covers."""
    signature: str


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(raw: bytes, inner_tag: str) -> Envelope:
    """The envelope of a message whose inner element is `inner_tag`; `MessageError` otherwise.
    Unverified: `verified` is what reads a peer's message."""
    if len(raw) > MAX_BYTES:
        raise MessageError("message too large")
    tag = re.escape(inner_tag.encode())
    shape = re.fullmatch(_PROLOG + rb"<Gepg>\s*(<" + tag + rb">.*</" + tag + rb">)" + _SIGNATURE, raw, re.S)
    if shape is None:
        raise MessageError(f"not exactly <Gepg><{inner_tag}>…</{inner_tag}><gepgSignature>…</Gepg>")
    signed = shape.group(3)
    try:
        inner = etree.fromstring(signed, _parser())
    except etree.XMLSyntaxError as err:
        raise MessageError(f"{inner_tag} is not one well-formed element: {err}") from err
    return Envelope(inner, signed, shape.group(4).decode())


def verified(raw: bytes, inner_tag: str, peer: Verifier) -> Envelope:
    """`parse`, then the signature over the inner element's bytes: `SignatureError` when it fails."""
    envelope = parse(raw, inner_tag)
    if not peer.valid(envelope.signed, envelope.signature):
        raise SignatureError(f"{inner_tag}: invalid signature")
    return envelope


def element(tag: str, *children: etree._Element | tuple[str, str | None]) -> etree._Element:
    """An element from child elements and (tag, text) pairs; a None text leaves the child empty."""
    node = etree.Element(tag)
    for child in children:
        if isinstance(child, tuple):
            etree.SubElement(node, child[0]).text = child[1]
        else:
            node.append(child)
    return node


def serialise(inner: etree._Element) -> bytes:
    """The inner element as it is signed and sent: UTF-8, no declaration, no namespaces."""
    return bytes(etree.tostring(inner, encoding="UTF-8", xml_declaration=False))


def envelope(signed: bytes, signature: str) -> bytes:
    """The message on the wire: declaration, `Gepg`, the signed bytes verbatim, the signature."""
    return b"".join(
        (DECLARATION, b"<Gepg>", signed, b"<gepgSignature>", signature.encode(), b"</gepgSignature></Gepg>")
    )


def text(node: etree._Element, tag: str, required: bool = True) -> str:
    """A child's text, stripped; `MessageError` when a required one is missing or empty."""
    found = node.findall(tag)
    if len(found) > 1:
        raise MessageError(f"{node.tag}/{tag} appears {len(found)} times")
    value = ((found[0].text or "") if found else "").strip()
    if required and not value:
        raise MessageError(f"{node.tag}/{tag} is required")
    return value
