"""Bytes of a text file to text: UTF-8 first, Windows Latin-1 (cp1252) when it is not, never binary.

Without this, random bytes named `.md` were stored as citable evidence and a Latin-1 file lost its
accents to replacement characters, both in silence. The standard library answers the question asked
here (UTF-8, UTF-16 with a byte order mark, or cp1252); `charset-normalizer` would guess among many
more encodings, and a wrong guess looks like text, so an unsure case is refused with its reason.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["Decoded", "NotText", "decode_text"]

# More control characters than this share makes it binary: prose has none besides whitespace, while
# random bytes that happen to decode have about one in ten.
_CONTROL_SHARE = 0.01
# Western European text read as cp1252 has a few accented letters among many ASCII ones (French,
# German or Spanish prose: under 10%); another 8-bit encoding (Cyrillic, Greek) read as cp1252 turns
# nearly every letter into an accented one.
_ACCENTED_SHARE = 0.4
# Unicode's control characters (category Cc) other than \t \n \v \f \r; a regular expression
# counts them in a 30 MB file in well under a second, a loop over characters takes many.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_LETTERS = re.compile(r"[^\W\d_]")
_ACCENTED = re.compile(r"[^\W\d_a-zA-Z]")
_SAMPLE = 1 << 20  # characters whose letters are counted: a file's first megabyte tells its encoding
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OTHER_ENCODING = "neither UTF-8 nor Windows Latin-1 (cp1252) text: convert it to UTF-8 and ingest it again"
CP1252_NOTE = "not UTF-8: read as Windows Latin-1 (cp1252); if its accents look wrong, convert it to UTF-8"


@dataclass(frozen=True)
class Decoded:
    text: str
    note: str = ""
    """Set when the file was not UTF-8: which encoding it was read with."""


@dataclass(frozen=True)
class NotText:
    reason: str


def decode_text(raw: bytes) -> Decoded | NotText:
    """The text in `raw`, or why it is not text (binary, or in an encoding other than these)."""
    if raw.startswith(_UTF16_BOMS):
        # Before the NUL test: UTF-16 text is half NUL bytes.
        try:
            return _checked(raw.decode("utf-16"), "read as UTF-16 (it starts with a byte order mark)")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        return NotText("binary: not text (it contains NUL bytes)")
    try:
        return _checked(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        # ISO Latin-1 decodes any bytes: binary shows as control characters, anything else is an
        # encoding this does not read.
        binary = _checked(raw.decode("latin-1"))
        return binary if isinstance(binary, NotText) else NotText(_OTHER_ENCODING)
    checked = _checked(text, CP1252_NOTE)
    sample = text[:_SAMPLE]
    letters = _LETTERS.subn("", sample)[1]
    if isinstance(checked, Decoded) and letters and _ACCENTED.subn("", sample)[1] / letters > _ACCENTED_SHARE:
        return NotText(f"{_OTHER_ENCODING} (read as cp1252 it is mostly accented letters)")
    return checked


def _checked(text: str, note: str = "") -> Decoded | NotText:
    controls = _CONTROLS.subn("", text)[1]
    if text and controls / len(text) > _CONTROL_SHARE:
        return NotText(f"binary: not text ({controls / len(text):.0%} control characters)")
    return Decoded(text, note)
