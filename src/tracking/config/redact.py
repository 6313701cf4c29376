"""Keep passwords out of everything the project writes: params, tags, logs and error messages.

A URL such as ``postgresql://user:secret@host/db`` becomes ``postgresql://user:***@host/db``.
Standard library only (error messages are built before anything heavy is imported).
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# scheme://user:password@ -- the password is everything between the first ':' after the user
# name and the last '@' before the host (a password may itself contain '@' or ':').
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^\s/]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", str(text))


class RedactingFilter(logging.Filter):
    """A logging filter that masks URL passwords in every record it lets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
