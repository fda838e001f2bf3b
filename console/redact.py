"""Masking secrets in what the console prints or records: passwords inside URLs.

An operator may write credentials into a URL setting (``http://admin:pw@mq:15672``); every URL
shown on a screen, in ``--json``, in evidence or in metadata goes through ``mask_url`` first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")


def mask_url(url: str) -> str:
    """``url`` with the userinfo's password replaced by ``********`` (the user name is kept)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        user = f"{parts.username}:{MASK}" if parts.password is not None else (parts.username or "")
        return urlunsplit((parts.scheme, f"{user}@{netloc}", parts.path, parts.query, parts.fragment))
    except ValueError:  # a port that is not a number: mask everything between :// and @
        return mask_urls_in(url)


def mask_urls_in(text: str) -> str:
    """Every ``scheme://user:password@`` in free text with its userinfo masked."""
    def replace(found: re.Match[str]) -> str:
        user, sep, _password = found.group("userinfo").partition(":")
        return f"{found.group('scheme')}{user}{':' + MASK if sep else ''}@"

    return _USERINFO.sub(replace, text)
