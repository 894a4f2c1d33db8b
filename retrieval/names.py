"""One name check for every index and route name: names become folder and file names.

A name is one path component a person can read: letters, digits, '.', '_' and '-', starting with a
letter or digit, at most 128 characters, never '..'. That rules out separators, parent references,
control characters (a trailing newline included) and hidden folders, on every path that takes one:
build, add, route references and load.
"""

from __future__ import annotations

import re

from retrieval.errors import InvalidName

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str, what: str = "index") -> str:
    """*name* itself when it is safe as a folder name; InvalidName (a ValueError) saying why not."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidName(f"{what} name {name!r}: use 1 to 128 letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit (no '..', path separators or control characters)")
    return name
