"""`imagineer serve`: the review web app (see imagineer_build/app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer  # already loaded by the CLI that calls register()


def register(app) -> None:
    @app.command()
    def serve(
        port: Annotated[int, typer.Option("--port", "-p", help="port (0: any free one)")] = 8765,
        host: Annotated[Optional[str], typer.Option(  # noqa: UP045
            "--host", help="address to bind (default 127.0.0.1); giving it accepts other Host names, and a "
                           "non-loopback address requires the access token printed at start")] = None,
        open_browser: Annotated[bool, typer.Option("--open", help="open the app in a browser")] = False,
        project: Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")] = None,  # noqa: UP045
    ) -> None:
        """Browse every album, filter, flag and edit (label overrides, score flags, reviews, people), build live."""
        import importlib.util

        from ..api import UserError, open_project

        missing = [m for m in ("starlette", "uvicorn", "jinja2") if importlib.util.find_spec(m) is None]
        if missing:
            raise UserError(f"imagineer serve needs the 'app' extra ({', '.join(missing)} not installed): "
                            "pip install 'imagineer-build[app]'")
        proj = open_project(project)  # spec errors stop it here, with file:line:col
        from .server import DEFAULT_HOST, Options
        from .server import serve as run

        try:
            run(Options(proj.root, host or DEFAULT_HOST, port, host_given=host is not None), open_browser)
        except OSError as e:
            raise UserError(f"cannot serve on {host or DEFAULT_HOST}:{port}: {e.strerror or e}", 1) from None
        except KeyboardInterrupt:
            pass
