"""The GePG envelope `<Gepg><inner>…</inner><gepgSignature>…</gepgSignature></Gepg>`, read safely.

Incoming XML is parsed by lxml with entity resolution, DTD loading and network access off and no
huge-tree allowance, and any document with a DOCTYPE is refused outright: an XML bomb or an external
entity never gets past `parse`. The signed content is the inner element exactly as it came over the
wire, cut from the raw bytes (from its first start tag to its last end tag, as GePG's own
validator does), never re-serialised.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
MAX_BYTES = 1_000_000
"""The largest message accepted: a bulk bill of a few thousand bills fits."""


class MessageError(ValueError):
    """The body is not a GePG message of the expected kind (answered 7242)."""


@dataclass(frozen=True)
class Envelope:
    inner: etree._Element
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
    """The envelope of a message whose inner element is `inner_tag`; `MessageError` otherwise."""
    if len(raw) > MAX_BYTES:
        raise MessageError("message too large")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise MessageError("a DOCTYPE or entity declaration is not allowed")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as err:
        raise MessageError(f"not well-formed XML: {err}") from err
    if root.getroottree().docinfo.doctype or root.tag != "Gepg":
        raise MessageError("not a Gepg envelope")
    inner = root.find(inner_tag)
    if inner is None:
        raise MessageError(f"no {inner_tag} element")
    start, end = raw.find(f"<{inner_tag}".encode()), raw.rfind(f"</{inner_tag}>".encode())
    if start < 0 or end < 0:
        raise MessageError(f"{inner_tag} is not in plain form")
    return Envelope(inner, raw[start : end + len(inner_tag) + 3], (root.findtext("gepgSignature") or ""))


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
    value = (node.findtext(tag) or "").strip()
    if required and not value:
        raise MessageError(f"{node.tag}/{tag} is required")
    return value
