"""Reading the text files users bring (tables, word lists, tagged sentences) in the encodings their
tools write."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path


def read_text(path: str | Path) -> str:
    """A text file's content: UTF-8 (a byte-order mark dropped), UTF-16 with its byte-order mark
    (Excel's "Unicode text"), else GB18030, which Chinese spreadsheet programs write by default
    (said on stderr when used).

    Raises:
        ValueError: the bytes are none of these, naming the file and the first offending byte.
    """
    raw = Path(path).read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            byte = raw[err.start : err.start + 1]
            raise ValueError(f"{path}: neither UTF-8 nor GB18030 (byte {err.start}: {byte!r})") from None
        print(f"{path}: not UTF-8; read as GB18030 (Chinese Windows / Excel encoding)", file=sys.stderr)
        return text
