"""The usage page: GET /_emulator/ (one HTML file) and /_emulator/static/{name} (its CSS and JS).

Everything it needs ships in the package (no CDN, no fonts); the page reads and moves the plan
only through the JSON admin API, polling it every 1.5 s.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


def _file(name: str) -> web.Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=path.read_bytes(),
        content_type=TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def page(request: web.Request) -> web.StreamResponse:
    return _file("index.html")


async def static(request: web.Request) -> web.StreamResponse:
    return _file(request.match_info["name"])


async def to_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.path + "/")


def add_dashboard_routes(app: web.Application, base: str) -> None:
    app.router.add_get(base, to_page)
    app.router.add_get(f"{base}/", page)
    app.router.add_get(f"{base}/static/{{name}}", static)
