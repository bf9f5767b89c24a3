"""Signed, expiring links to a private status page: no database row, just an HMAC.

A link's token is ``<expires>.<signature>``: the expiry in epoch seconds and the
HMAC-SHA256 of ``status:<slug>:<expires>`` under the server's secret
(``UPTALLY_SECRET_KEY``), base64url without padding. Changing the secret revokes
every link; renaming the customer (its slug) revokes that customer's links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

MAX_DAYS = 366


def _signature(secret: str, slug: str, expires: int) -> str:
    digest = hmac.new(secret.encode(), f"status:{slug}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, slug: str, expires: int) -> str:
    """A token granting ``slug``'s private pages until ``expires`` (epoch seconds)."""
    return f"{expires}.{_signature(secret, slug, expires)}"


def verify(secret: str | None, slug: str, token: str, now: int) -> bool:
    """Whether ``token`` is a valid, unexpired link for ``slug``. Without a secret no
    link is valid."""
    if not secret:
        return False
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires <= now:
        return False
    return hmac.compare_digest(signature, _signature(secret, slug, expires))
