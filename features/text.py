"""Text that cannot lie: control characters found and escaped, text lengths bounded.

Owns the rules for what a cell, a message or a log line may carry: a cell with a control
character is an error (never silently cut), anything shown back is escaped and bounded.
"""

from __future__ import annotations

import re
import reprlib

# The CSV reader (pandas' C parser) ends a cell at a NUL byte; the file reader puts this
# noncharacter in its place, so the cell reaches validation whole and is rejected there.
NUL_STAND_IN = "\uffff"
# Longest text accepted in a text field (patient_id): an identifier, not a document.
MAX_TEXT_LENGTH = 200
# Longest text shown in a message, an error file's value column or a log line.
MAX_SHOWN = 200

# Control characters (C0, DEL, C1), the NUL stand-in and lone surrogates (JSON's "\ud800":
# not text, and not encodable as UTF-8, so an answer or a log line holding one would fail).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_UNSAFE = CONTROL
CONTROL_MESSAGE = (
    "contains a control character or a lone surrogate (shown escaped, e.g. \\x00); remove it"
)


def has_control(text: str) -> bool:
    """Whether `text` holds a control character, the NUL stand-in or a lone surrogate."""
    return CONTROL.search(text) is not None


def _escape_one(match: re.Match) -> str:
    char = match.group()
    if char == NUL_STAND_IN:
        return "\\x00"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def escape(text, limit: int = MAX_SHOWN) -> str:
    """Safe to print or log: control characters and lone surrogates escaped (a forged log
    line or terminal sequence cannot get through), and bounded in length."""
    text = text if isinstance(text, str) else str(text)
    text = shorten(text, limit)
    return _UNSAFE.sub(_escape_one, text) if _UNSAFE.search(text) else text


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 8


def show(value) -> str:
    """A bounded repr for messages: a deep or huge value (a YAML alias bomb) costs as little
    to show as a small one (reprlib stops at a few levels and items)."""
    return escape(_REPR.repr(value))
