"""A request body as the app reads it: UTF-8 JSON bytes, whatever compression and text encoding
the client declared.

JSON on the wire is UTF-8 (RFC 8259), but clients do not all send it so: PowerShell and some
Windows tools put a byte-order mark first, Java and .NET clients name a charset, a Chinese
client may send GB18030 with ``charset=gbk``, and clients with large batches compress them
(``Content-Encoding: gzip``). Each of these read as ``Invalid JSON ... line 1 column 1``, which
names neither the field nor what arrived. Here a body is decompressed and transcoded to UTF-8
before the app parses it, and one that cannot be is refused saying why.
"""

from __future__ import annotations

import codecs
import zlib

# Byte-order marks and the codec each names, the 4-byte ones first (UTF-32-LE's starts with UTF-16-LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_GB = {"gbk": "gb18030", "gb2312": "gb18030"}
CODINGS = ("gzip", "deflate", "identity")


class BodyRefused(Exception):
    """A body that cannot be read as JSON text; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def content_codings(header: str) -> list[str]:
    """The codings of a ``Content-Encoding`` header in the order they were applied, lower-case
    (``"gzip, identity"`` -> ``["gzip", "identity"]``; ``x-gzip`` is ``gzip``)."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    return ["gzip" if c == "x-gzip" else c for c in codings]


def charset_of(content_type: str) -> str | None:
    """The ``charset`` parameter of a ``Content-Type`` header, lower-case and unquoted, or None."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip().lower() or None
    return None


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    """``body`` decompressed, at most ``limit`` bytes of output (a small body that inflates to
    gigabytes is refused after ``limit`` bytes, not after it filled the memory). gzip members
    written one after another (``cat a.gz b.gz``) are all read, as gzip reads them."""
    too_big = BodyRefused(413, f"request body is over the limit of {limit} bytes once decompressed ({coding})")
    # deflate as sent is zlib-wrapped per the RFC, raw in some clients: try both.
    for wbits in (16 + zlib.MAX_WBITS,) if coding == "gzip" else (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        out, rest = b"", body
        try:
            while rest:
                inflater = zlib.decompressobj(wbits)
                out += inflater.decompress(rest, limit + 1 - len(out))
                if len(out) > limit or inflater.unconsumed_tail:
                    raise too_big
                if not inflater.eof:
                    raise BodyRefused(400, f"body: Content-Encoding {coding}, but the {coding} data ends early")
                rest = inflater.unused_data if coding == "gzip" else b""
        except zlib.error:
            if out:  # a first member read, then bytes that are no gzip member
                raise BodyRefused(400, f"body: Content-Encoding {coding}, but data follows the {coding} data") from None
            continue
        return out
    raise BodyRefused(400, f"body: Content-Encoding {coding}, but the body is not {coding} data")


def _decode(body: bytes, codec: str, said: str) -> str:
    try:
        return body.decode(codec)
    except UnicodeDecodeError as e:
        where = f"byte 0x{body[e.start]:02X} at position {e.start}"
        if e.reason == "unexpected end of data":
            where += " ends mid-character"
    except (UnicodeError, LookupError, ValueError):  # a codec that is no text encoding (rot13, idna, base64)
        raise BodyRefused(415, f"content-type: charset {said!r} is not one this server reads; send UTF-8") from None
    raise BodyRefused(
        400,
        f"body: not valid {said} text: {where}; "
        "send UTF-8, or name the encoding sent (Content-Type: application/json; charset=gb18030)",
    )


def utf8_body(body: bytes, content_encoding: str, content_type: str, limit: int) -> bytes:
    """``body`` as UTF-8 bytes without a byte-order mark, ready for the JSON parser.

    Undoes each ``Content-Encoding`` (gzip, deflate; identity), then reads the text by its
    byte-order mark (UTF-8, UTF-16, UTF-32), else by the ``charset`` of ``content_type``, else
    as UTF-8. Raises :class:`BodyRefused`: 415 for a coding or charset this server cannot read,
    413 for a body over ``limit`` bytes once decompressed, 400 for bytes that are not what was
    declared (naming the first bad byte and its position).
    """
    for coding in reversed(content_codings(content_encoding)):
        if coding == "identity":
            continue
        if coding not in CODINGS:
            raise BodyRefused(415, f"content-encoding: expected one of {', '.join(CODINGS)}, got {coding!r}")
        body = _inflate(body, coding, limit)
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom) :], codec, codec.upper()).encode()
    charset = charset_of(content_type)
    if charset is None or charset in _UTF8:
        if body.isascii():
            return body
        _decode(body, "utf-8", "UTF-8")
        return body
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise BodyRefused(415, f"content-type: charset {charset!r} is not one this server reads; send UTF-8") from None
    # A GBK or GB2312 label is read as GB18030, its superset, as browsers do: Chinese clients
    # label GB18030 text so.
    return _decode(body, _GB.get(codec, codec), charset).encode()
