"""Text from files, folders and file names made safe to print: :func:`printable`.

A project name, a node id, a class-folder name or a file name can hold anything:
ANSI escape sequences that retitle or clear a terminal, carriage returns that
overwrite a line, bidirectional overrides that reorder it, and (in a file name
that is not UTF-8) the lone surrogates Python decodes such bytes to, which a
strict UTF-8 stream refuses to write. :func:`printable` shows each of these as
a visible escape instead, so what is printed is what the user can read.

Core is the bottom layer: every package may import this module.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

#: Control characters (C0, DEL, C1), bidirectional formatting characters, line and paragraph
#: separators, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_KEEPING_NEWLINES = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    r"""``str(text)`` with every character a terminal or a strict UTF-8 stream would act on escaped.

    ``"\x1b]0;pwned\x07"`` → ``"\\x1b]0;pwned\\x07"``; ``"bad_\udcff.cnnp"`` (the file name
    ``bad_<0xff>.cnnp``) → ``"bad_\\xff.cnnp"``; ``"\u202e"`` → ``"\\u202e"``. Tabs, carriage
    returns and newlines become ``\t``, ``\r`` and ``\n`` (newlines stay with ``keep_newlines``).
    Printable text, non-ASCII letters included, is unchanged, and escaping twice changes nothing
    more (a backslash is left as it is).
    """
    pattern = _UNSAFE_KEEPING_NEWLINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, str(text))
