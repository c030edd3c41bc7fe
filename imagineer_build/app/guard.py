"""Who may talk to the app: an ASGI middleware in front of every route.

- Bound to loopback (the default), it answers only requests whose Host header names a loopback
  address (no DNS rebinding) from loopback clients.
- Exposed (`--host` not loopback), every request needs the access token printed at start: as
  `?token=` once (it becomes an HttpOnly, SameSite=Strict cookie and the URL is cleaned), as the
  cookie, or as an `X-Imagineer-Token` / `Authorization: Bearer` header for scripts.
- Every write (POST) needs the page's CSRF token in `X-Imagineer-CSRF` and, when the browser
  sends one, an Origin of this very server: another site's page cannot edit or build.
- Every answer carries a Content-Security-Policy allowing only this origin: no CDN, no inline
  script, nothing loaded from elsewhere even if an artifact held hostile text.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote, urlencode

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
TOKEN_HEADER = "x-imagineer-token"
CSRF_HEADER = "x-imagineer-csrf"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a Host header: `[::1]:8765` → `::1`, `localhost:80` → `localhost`."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    def __init__(self, app, *, local_only: bool, token: str | None, csrf: str, cookie: str):
        self.app = app
        self.local_only = local_only
        self.token = token
        self.csrf = csrf
        self.cookie = cookie

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.local_only:
            client = (scope.get("client") or ("", 0))[0]
            if not is_loopback(host_name(host).lower()):
                return await _deny(send, 403, f"refused: this server answers only to localhost, not to Host {host!r}; "
                                              "start it with --host to serve other names")
            if client and not is_loopback(client):
                return await _deny(send, 403, "refused: this server answers only local clients; "
                                              "start it with --host to serve others")
        if self.token is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = dict(query).get("token")
            if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                return await _redirect(send, quote(scope.get("path", "/")) + (f"?{rest}" if rest else ""),
                                       f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/")
            if not self._has_token(headers):
                return await _deny(send, 401, "this server needs its access token: open the URL that "
                                              "`imagineer serve` printed (…/?token=…)")
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
                return await _deny(send, 403, f"refused: a write from another origin ({origin})")
            if not hmac.compare_digest(headers.get(CSRF_HEADER, "").encode(), self.csrf.encode()):
                return await _deny(send, 403, "refused: a write without this page's CSRF token")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _has_token(self, headers: dict[str, str]) -> bool:
        want = self.token.encode()
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            pass
        candidates = [headers.get(TOKEN_HEADER, ""), cookie[self.cookie].value if self.cookie in cookie else ""]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            candidates.append(auth[7:].strip())
        return any(c and hmac.compare_digest(c.encode(), want) for c in candidates)


async def _deny(send, status: int, message: str) -> None:
    body = json.dumps({"ok": False, "error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send, location: str, cookie: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                            (b"content-length", b"0"), *HEADERS]})
    await send({"type": "http.response.body", "body": b""})
