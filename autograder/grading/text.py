"""Text that came from a handin (file names, member names, exception messages), made safe to show.

A handin chooses its archive's name, its members' names and the messages its
code raises. Shown raw, such text can move a terminal's cursor, set a TA's
clipboard (OSC 52), reverse the order of what follows (bidi overrides), forge
rows of a table with newlines, or run as a formula in a spreadsheet. Every
output of the grader passes handin text through ``escape`` (and CSV cells
through ``csv_cell``).
"""

from __future__ import annotations

import unicodedata

# Unicode categories never shown as they are: controls (C0, DEL, C1), format characters (bidi
# overrides and isolates, zero-width joiners), surrogates (a file name that is not UTF-8, decoded
# with surrogateescape), private use, unassigned, and line/paragraph separators.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape(text: object, limit: int = 0) -> str:
    """``text`` with every hidden character written as an escape (``\\x1b``, ``\\n``, ``\\u202e``).

    A lone surrogate from a non-UTF-8 file name shows as the byte it stands for (``\\xff``).
    A backslash is doubled so an escape in the output always means a hidden character.
    ``limit`` (when > 0) caps the length of the result, ending it with ``…`` when cut.
    """
    text = str(text)
    if limit and len(text) > 4 * limit:  # escaping at most quadruples a character: cut before the work
        text = text[:4 * limit]
    if text.isprintable() and "\\" not in text:  # the common case, at C speed: nothing to escape
        return text if not limit or len(text) <= limit else text[:max(0, limit - 1)] + "…"
    out = []
    for char in text:
        if char in _SHORT:
            out.append(_SHORT[char])
        elif unicodedata.category(char) in _HIDDEN:
            code = ord(char)
            if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
                out.append(f"\\x{code - 0xDC00:02x}")
            elif code <= 0xFF:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
        else:
            out.append(char)
    result = "".join(out)
    if limit and len(result) > limit:
        result = result[:max(0, limit - 1)] + "…"
    return result


def shown_name(name: object, limit: int = 120) -> str:
    """A name for a message: escaped, capped at ``limit`` characters, in single quotes."""
    return "'" + escape(name, limit).replace("'", "\\'") + "'"


def csv_cell(value: object, limit: int = 0) -> str:
    """A CSV cell: escaped, and prefixed with an apostrophe when a spreadsheet would read a formula."""
    text = escape(value, limit)
    # Checked on the raw value too: a leading tab or CR is escaped above, but is still prefixed as OWASP says.
    return "'" + text if text.startswith(_FORMULA_START) or str(value).startswith(_FORMULA_START) else text
