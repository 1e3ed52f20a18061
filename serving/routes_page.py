"""GET /: the CSM risk-list page. Static HTML, CSS and JS read once; the data comes from /v1 with the key.

The page holds no data itself: it asks for the API key (kept in the tab's sessionStorage)
and calls /v1/risk-list and /v1/accounts/{id} with it. A strict Content-Security-Policy
allows only this server's own script, style and API, so there is no CDN and no inline code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.exceptions import HTTPException

STATIC = Path(__file__).with_name("static")
ASSETS = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
router = APIRouter(include_in_schema=False)


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/")
async def page() -> Response:
    return Response(
        _read("page.html"),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return Response(_read(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
