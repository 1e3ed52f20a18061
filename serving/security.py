"""API-key check for every /v1 route: ``Authorization: Bearer <key>``, compared in constant time.

Both sides are hashed first so the comparison also hides the key's length; the compare is
:func:`hmac.compare_digest`, never ``==``. A key in the query string is not looked at (it
would end up in proxies' and browsers' logs), so such a request gets 401 like any other
without the header. Logging gets a filter that masks the key wherever it might appear.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="The server's API key (CHURN_API_KEY or --api-key-file) as 'Authorization: Bearer <key>'.",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="churn"'}


def key_digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def key_matches(given: str, expected_digest: bytes) -> bool:
    return hmac.compare_digest(key_digest(given.encode("utf-8", "surrogateescape")), expected_digest)


async def require_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Raise 401 unless the request carries the server's key (no check in --insecure-local mode)."""
    refused = refusal(request.app.state.key_digest, credentials)
    if refused is not None:
        raise refused


def refusal(expected: bytes | None, credentials: HTTPAuthorizationCredentials | None) -> HTTPException | None:
    """The 401 for these credentials, or None when they carry the key (or no key is configured)."""
    if expected is None:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer":
        return HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", headers=CHALLENGE)
    if not key_matches(credentials.credentials, expected):
        return HTTPException(401, "wrong API key", headers=CHALLENGE)
    return None


def request_refusal(request: Request) -> HTTPException | None:
    """:func:`refusal` for a request no route matched (the header parsed as :data:`bearer` does)."""
    scheme, given = get_authorization_scheme_param(request.headers.get("Authorization"))
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=given) if scheme and given else None
    return refusal(request.app.state.key_digest, credentials)


ApiKey = Depends(require_key)


class RedactKey(logging.Filter):
    """Masks every registered key in log records' messages (a last line of defence; one per process)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()

    def add(self, key: bytes | None) -> None:
        if key:
            self.keys.add(key.decode())

    def filter(self, record: logging.LogRecord) -> bool:
        if self.keys:
            message = record.getMessage()
            if any(k in message for k in self.keys):
                for key in self.keys:
                    message = message.replace(key, "[redacted]")
                record.msg, record.args = message, None
        return True


REDACT = RedactKey()
