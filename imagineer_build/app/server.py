"""Assemble the app (routes, guard, templates) and serve it with uvicorn on a socket we bind,
so `--port 0` works and the printed URL names the port actually used."""

from __future__ import annotations

import json
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass
class Options:
    root: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    host_given: bool = False  # `--host` was on the command line: other Host names are accepted
    token: str | None = None  # required from clients; set when the host is not loopback


def create_app(opts: Options, port: int):
    """The ASGI app; `port` is the one bound (it names the token cookie)."""
    import jinja2
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from .builds import BuildRunner
    from .edits import Editor
    from .guard import Guard
    from .pages import App, load_static, routes
    from .query import Results
    from .redact import Redactor
    from .workspace import Workspace

    env = jinja2.Environment(loader=jinja2.PackageLoader("imagineer_build.app", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["u"] = lambda s: quote(str(s), safe="")
    env.filters["short"] = lambda d: str(d)[:12]
    env.filters["num"] = _num
    env.filters["pretty"] = lambda v: json.dumps(v, indent=1, ensure_ascii=False, sort_keys=True)
    ws = Workspace(opts.root)
    app = App(ws=ws, editor=Editor(ws), runner=BuildRunner(ws.root), results=Results(), env=env,
              csrf=secrets.token_urlsafe(24), redact=Redactor(), static=load_static())
    guard = Middleware(Guard, local_only=not opts.host_given, token=opts.token, csrf=app.csrf,
                       cookie=f"imagineer_token_{port}")
    return Starlette(routes=routes(app), middleware=[guard])


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every keep-alive response waits 40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(opts: Options, open_browser: bool = False) -> None:
    """Bind, print the URL (with the token when exposed), serve until Ctrl-C."""
    import uvicorn

    from .guard import is_loopback

    if not is_loopback(opts.host) and opts.token is None:
        opts.token = secrets.token_urlsafe(24)
    sock = bind(opts.host, opts.port)
    port = sock.getsockname()[1]
    shown = f"[{opts.host}]" if ":" in opts.host else opts.host
    url = f"http://{shown}:{port}/" + (f"?token={opts.token}" if opts.token else "")
    app = create_app(opts, port)
    print(f"imagineer serve: {url}", flush=True)
    if opts.token:
        print("exposed beyond this machine: every client needs the token above (it is set as a cookie on the "
              "first visit); anyone who has it can edit this project's files and start builds", file=sys.stderr,
              flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
