"""The routes: server-rendered pages, the edit and build API, images and thumbnails.

Handlers are plain functions (Starlette runs them in its thread pool); only the event stream
is async. Files are served by name from an artifact's manifest or by digest from the set of
blobs the project's artifacts hold, never by joining a path from the URL to a folder.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from ..api import UserError
from ..core.spec import SpecErrors
from .builds import BuildRunner, Busy
from .catalog import facet_label
from .edits import Conflict, Editor, cluster_seen, face_seen
from .query import PER_PAGE, SORTS, Query, Results
from .redact import Redactor, redact_config
from .thumbs import SIZES, Thumbs
from .workspace import Workspace

DIGEST = re.compile(r"^[0-9a-f]{32}$")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".gif": "image/gif", ".bmp": "image/bmp"}
TEXT_TYPES = {".json": "application/json", ".jsonl": "application/json", ".csv": "text/plain; charset=utf-8",
              ".txt": "text/plain; charset=utf-8", ".yaml": "text/plain; charset=utf-8",
              ".toml": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8"}
IMMUTABLE = {"cache-control": "private, max-age=31536000, immutable"}
STATIC = ("app.css", "app.js")
GRID_THUMB = 320


@dataclass
class App:
    ws: Workspace
    editor: Editor
    runner: BuildRunner
    results: Results
    env: Any  # jinja2.Environment
    csrf: str
    redact: Redactor
    static: dict[str, tuple[bytes, str]]
    _thumbs: Thumbs | None = None

    @property
    def thumbs(self) -> Thumbs:
        store = self.ws.store()
        if self._thumbs is None or self._thumbs.store is not store:
            self._thumbs = Thumbs(store)
        return self._thumbs

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(csrf=self.csrf, building=self.runner.state()["running"], **ctx)
        return HTMLResponse(self.redact(html), status)

    def json(self, data: Any, status: int = 200) -> Response:
        return Response(self.redact(json.dumps(data)), status, media_type="application/json")


def routes(app: App) -> list[Route]:
    def guarded(fn):
        """Spec and user errors become an error page (or JSON for the API), never a traceback."""
        def handler(request: Request):
            api = request.url.path.startswith("/api/")
            try:
                return fn(request)
            except SpecErrors as e:
                n = len(e.errors)
                msg = f"{e}\n{n} error{'s' if n != 1 else ''} in the specs"
                return app.json({"ok": False, "error": msg}, 400) if api else app.page("error.html", 500, title="spec errors", message=msg)
            except Conflict as e:
                return app.json({"ok": False, "conflict": True, "error": str(e)}, 409)
            except (UserError, ValueError) as e:
                return app.json({"ok": False, "error": str(e)}, 400) if api else app.page("error.html", 404, title="not found", message=str(e))
        handler.__name__ = fn.__name__
        return handler

    def target_or_404(name: str):
        proj = app.ws.project()
        if name not in proj.targets:
            from ..api import unknown_target

            raise UserError(unknown_target(proj, name))
        return proj.targets[name]

    # ---- pages ---------------------------------------------------------------------------------

    def home(request: Request):
        from ..core.engine import Engine
        from .graphsvg import graph_svg

        proj = app.ws.project()
        status = Engine(proj, store=app.ws.store()).status([])
        rows = []
        for name, res in status.items():
            t = proj.targets[name]
            view = app.ws.view(name)
            cat = app.ws.catalog(name) if view is not None else None
            rows.append({"name": name, "kind": t.kind_name, "status": res.status if view is not None else "never built",
                         "reason": res.reason[:3], "facts": view.facts if view is not None else {},
                         "images": len(cat.items) if cat is not None else None, "built": view is not None,
                         "upstream": [r.target for r in t.refs], "where": str(t.pos)})
        svg = graph_svg({n: list(proj.graph.preds[n]) for n in status},
                        {r["name"]: ("fresh" if r["status"] == "fresh" else "stale" if r["built"] else "never") for r in rows},
                        {n: proj.targets[n].kind_name for n in status})
        return app.page("home.html", title=proj.settings.name or proj.root.name, rows=rows, graph=svg,
                        root=proj.root.name)

    def grid(request: Request):
        name = request.path_params["target"]
        t = target_or_404(name)
        view = app.ws.view(name)
        if view is None:
            return app.page("unbuilt.html", title=name, target=name, kind=t.kind_name, config=config_of(t))
        cat = app.ws.catalog(name)
        if cat is None:
            return files_page(name, t, view)
        q = Query.parse(request.query_params.multi_items())
        res = app.results.get(cat, q)
        items = res.page(cat, q)
        flags = pending_flags(name, t) if t.kind_name == "scores" else None
        cards = [card(name, it, flags) for it in items]
        if t.kind_name == "labels":  # images with a hand edit the next build applies
            from ..kinds.label.review_cmd import label_files

            edited = app.ws.read_yaml(label_files(app.ws.project(), t)[1])
            for c in cards:
                c["edited"] = isinstance(edited, dict) and c["digest"] in edited
        facets = [{"key": k, "label": facet_label(k),
                   "values": [{"value": v, "count": n, "on": v in q.selected(k), "url": q.url(toggle=(k, v))}
                              for v, n in res.facets.get(k, [])]}
                  for k in cat.facets if res.facets.get(k)]
        return app.page("grid.html", title=name, target=name, kind=t.kind_name, cat=cat, q=q, cards=cards,
                        config=config_of(t),
                        facets=facets, total=len(res.order), all=len(cat.items), pages=res.pages(q), sorts=SORTS,
                        per_page=PER_PAGE, qs=q.url(page=q.page), summary=summary(cat), flags_file=flags and flags["file"],
                        files=sorted(r for r in view.files if not r.startswith(("images/",)) and "/" not in r))

    def files_page(name: str, t, view):
        rows = [{"rel": rel, "digest": d, "size": view.sizes.get(d, 0),
                 "image": posixpath.splitext(rel)[1].lower() in IMAGE_TYPES} for rel, d in sorted(view.files.items())]
        return app.page("files.html", title=name, target=name, kind=t.kind_name, rows=rows, facts=view.facts,
                        config=config_of(t),
                        describe=t.kind.describe(view), artifact=view.digest)

    def image(request: Request):
        name, digest = request.path_params["target"], request.path_params["digest"]
        target_or_404(name)
        cat = app.ws.catalog(name)
        it = cat.item(digest) if cat is not None else None
        if it is None:
            raise UserError(f"{name} has no image {digest[:32]!r}")
        q = Query.parse(request.query_params.multi_items())
        res = app.results.get(cat, q)
        pos = res.order.index(it["index"]) if it["index"] in res.order else None
        prev_it = cat.items[res.order[pos - 1]] if pos else None
        next_it = cat.items[res.order[pos + 1]] if pos is not None and pos + 1 < len(res.order) else None
        proj = app.ws.project()
        views = []  # every target holding this image, with what it says about it
        for other in app.ws.containing(digest):
            ocat = app.ws.catalog(other)
            views.append({"target": other, "kind": proj.targets[other].kind_name, "item": ocat.item(digest),
                          "info": ocat.info})
        edits = edit_forms(digest, views)
        return app.page("image.html", title=f"{it['name']} · {name}", target=name, kind=cat.kind, it=it,
                        views=views, edits=edits, qs=q.url(page=q.page), pos=pos, total=len(res.order),
                        prev=prev_it, next=next_it, file_url=file_url(name, it["path"]),
                        sidecar=sidecar(app.ws.view(name), it["path"]))

    def compare(request: Request):
        proj = app.ws.project()
        a, b = request.query_params.get("a"), request.query_params.get("b")
        albums = sorted(n for n in proj.targets if app.ws.catalog(n) is not None)
        if not a or not b:
            return app.page("compare.html", title="compare", albums=albums, a=a, b=b, pairs=None)
        target_or_404(a)
        target_or_404(b)
        ca, cb = app.ws.catalog(a), app.ws.catalog(b)
        if ca is None or cb is None:
            raise UserError(f"{a if ca is None else b} has no album built yet")
        q = Query.parse([(k, v) for k, v in request.query_params.multi_items() if k not in ("a", "b")])
        res = app.results.get(ca, q)
        keyed_b = {pair_key(it): it for it in cb.items}
        pairs = []
        for it in res.page(ca, q):
            other = keyed_b.get(pair_key(it))
            pairs.append({"a": card(a, it, None), "b": card(b, other, None) if other else None})
        matched = sum(1 for i in res.order if pair_key(ca.items[i]) in keyed_b)
        base = f"a={quote(a)}&b={quote(b)}&"
        return app.page("compare.html", title=f"{a} vs {b}", albums=albums, a=a, b=b, pairs=pairs, q=q,
                        total=len(res.order), matched=matched, pages=res.pages(q), base=base,
                        sa=summary(ca), sb=summary(cb))

    def review_page(request: Request):
        name = request.path_params["target"]
        t = target_or_404(name)
        if t.kind_name != "labels":
            raise UserError(f"{name} is a {t.kind_name} target; reviews belong to labels targets")
        cat = app.ws.catalog(name)
        if cat is None:
            return app.page("unbuilt.html", title=name, target=name, kind=t.kind_name)
        entries = []
        for it in cat.items:
            st = app.editor.review_state(name, it["digest"]) if it.get("review") else None
            if st is not None:
                entries.append({"card": card(name, it, None), "review": st})
        show = request.query_params.get("show", "pending")
        shown = [e for e in entries if show == "all" or e["review"]["status"] == show]
        counts = {s: sum(1 for e in entries if e["review"]["status"] == s) for s in ("pending", "approved", "rejected")}
        return app.page("review.html", title=f"review · {name}", target=name, entries=shown, counts=counts, show=show)

    def clusters_page(request: Request):
        name = request.path_params["target"]
        t = target_or_404(name)
        if t.kind_name != "faces":
            raise UserError(f"{name} is a {t.kind_name} target; clusters belong to faces targets")
        cat = app.ws.catalog(name)
        if cat is None:
            return app.page("unbuilt.html", title=name, target=name, kind=t.kind_name)
        st = app.editor.people_state(name)
        by_path = {it["path"]: it for it in cat.items}
        clusters = []
        for c in st["clusters"]:
            entry = st["people"].clusters.get(c["cluster"])
            clusters.append({**c, "pending": entry.name if entry and entry.name != c.get("name") else None,
                             "seen": cluster_seen(st["people"], c["cluster"]),
                             "examples": [card(name, by_path[p], None) for p in c.get("examples", []) if p in by_path]})
        return app.page("clusters.html", title=f"people · {name}", target=name, clusters=clusters, file=st["file"],
                        named=st["named"])

    def build_page(request: Request):
        proj = app.ws.project()
        state = app.runner.state()
        run = request.query_params.get("run", "")
        after = int(run) - 1 if run.isdigit() else state["running"]["run"] - 1 if state["running"] else state["last"]
        return app.page("build.html", title="build", targets=list(proj.targets),
                        chosen=request.query_params.getlist("target"), state=state, after=after)

    # ---- helpers for pages ---------------------------------------------------------------------

    def card(target: str, it: dict[str, Any], flags: dict[str, Any] | None) -> dict[str, Any]:
        s = it.get("score") or {}
        c = {"digest": it["digest"], "name": it["name"], "path": it["path"], "caption": it.get("caption"),
             "thumb": f"/thumb/{it['digest']}/{GRID_THUMB}", "href": f"/t/{quote(target, safe='')}/i/{it['digest']}",
             "width": it.get("width"), "height": it.get("height"), "verdict": it.get("verdict"), "flag": it.get("flag"),
             "score": s.get("score"), "adherence": s.get("adherence"), "variations": it["variations"],
             "shot": it.get("shot"), "nsfw": it.get("nsfw")}
        if flags is not None:
            entry = flags["data"].get(it["digest"]) if isinstance(flags["data"], dict) else None
            from .edits import fingerprint

            c["pending_flag"] = entry.get("flag") if isinstance(entry, dict) else entry
            c["seen"] = fingerprint(entry)
        return c

    def pending_flags(name: str, t) -> dict[str, Any]:
        from ..kinds.scores.flags import flags_file

        rel = flags_file(t.config, name)
        return {"file": rel, "data": app.ws.read_yaml(rel) or {}}

    def edit_forms(digest: str, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forms = []
        for v in views:
            if v["kind"] == "labels":
                st = app.editor.label_state(v["target"], digest)
                forms.append({"type": "label", **st, "pending": st["pending"].to_dict(), "built": st["built"].to_dict()})
                rv = app.editor.review_state(v["target"], digest)
                if rv is not None:
                    forms.append({"type": "review", **rv})
            elif v["kind"] == "scores":
                forms.append({"type": "flag", **app.editor.flag_state(v["target"], digest),
                              "built": v["item"].get("flag"), "verdict": v["item"].get("verdict")})
            elif v["kind"] == "faces" and v["item"].get("faces"):
                st = app.editor.people_state(v["target"])
                faces = [{**f, "seen": face_seen(st["people"], f["id"])} for f in v["item"]["faces"]]
                forms.append({"type": "faces", "target": v["target"], "file": st["file"], "faces": faces,
                              "named": st["named"]})
        return forms

    # ---- files ----------------------------------------------------------------------------------

    def artifact_file(request: Request):
        name, rel = request.path_params["target"], request.path_params["path"]
        target_or_404(name)
        view = app.ws.view(name)
        digest = view.files.get(rel) if view is not None else None
        if digest is None:
            return app.json({"ok": False, "error": f"{name} has no file {rel!r}"}, 404)
        return blob_response(app.ws.store().blob_path(digest).read_bytes(), rel, digest, request)

    async def thumb(request: Request):
        """Async: a thumbnail made before is a small file read, not worth a thread hop (a grid page
        asks for 100 of them); one to make goes to the thread pool."""
        from starlette.concurrency import run_in_threadpool

        digest, size = request.path_params["digest"], request.path_params["size"]
        try:
            allowed = DIGEST.match(digest) is not None and size in SIZES and digest in app.ws.allowed()
        except (SpecErrors, UserError, OSError):
            allowed = False  # the specs are broken right now: the pages say why
        if not allowed:
            return app.json({"ok": False, "error": "no such image"}, 404)
        if request.headers.get("if-none-match") == f'"{digest}-{size}"':
            return Response(status_code=304, headers=IMMUTABLE)
        thumbs = app.thumbs
        data = thumbs.known(digest, size)
        if data is None:
            data = await run_in_threadpool(thumbs.get, digest, size)
        if data is None:
            return Response(app.static["broken.svg"][0], media_type="image/svg+xml")
        return Response(data, media_type="image/jpeg", headers={**IMMUTABLE, "etag": f'"{digest}-{size}"'})

    def static(request: Request):
        name = request.path_params["name"]
        if name not in app.static:
            return app.json({"ok": False, "error": "no such file"}, 404)
        data, ctype = app.static[name]
        return Response(data, media_type=ctype, headers={"cache-control": "no-cache"})

    # ---- the API --------------------------------------------------------------------------------

    def body(request: Request) -> dict[str, Any]:
        import anyio.from_thread

        raw = anyio.from_thread.run(request.body)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise UserError("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise UserError("the request body must be a JSON object")
        return data

    def api_label(request: Request):
        d = body(request)
        changes = {k: d[k] for k in ("caption", "tags", "nsfw") if k in d}
        w = app.editor.edit_label(str(d.get("target")), str(d.get("digest")), str(d.get("seen")), changes)
        return app.json(w.to_json())

    def api_flag(request: Request):
        d = body(request)
        flag = d.get("flag")
        w = app.editor.flag(str(d.get("target")), str(d.get("digest")), str(d.get("seen")),
                            None if flag == "clear" else flag, d.get("note"))
        return app.json(w.to_json())

    def api_review(request: Request):
        d = body(request)
        w = app.editor.review(str(d.get("target")), str(d.get("digest")), str(d.get("seen")), str(d.get("decision")))
        return app.json(w.to_json())

    def api_faces_name(request: Request):
        d = body(request)
        try:
            cluster = int(d.get("cluster"))
        except (TypeError, ValueError):
            raise UserError("cluster must be a number") from None
        w = app.editor.name_cluster(str(d.get("target")), cluster, str(d.get("seen")), str(d.get("name", "")))
        return app.json(w.to_json())

    def api_faces_move(request: Request):
        d = body(request)
        w = app.editor.move_face(str(d.get("target")), str(d.get("face")), str(d.get("seen")), str(d.get("to", "")))
        return app.json(w.to_json())

    def api_build(request: Request):
        d = body(request)
        targets = d.get("targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise UserError("targets must be a list of target names")
        try:
            run = app.runner.start(targets)
        except Busy as e:
            return app.json({"ok": False, "error": str(e)}, 409)
        return app.json({"ok": True, "run": run, "events": "/api/build/events"})

    def api_stop(request: Request):
        return app.json({"ok": app.runner.stop()})

    async def events(request: Request):
        after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        try:
            last = int(after)
        except ValueError:
            last = 0

        async def stream():
            nonlocal last
            idle = 0.0
            yield f"retry: 2000\n: {json.dumps(app.runner.state())}\n\n"
            while True:
                evs = app.runner.since(last)
                for ev in evs:
                    last = ev["id"]
                    yield f"id: {ev['id']}\nevent: {ev['event']}\ndata: {app.redact(json.dumps(ev))}\n\n"
                if evs:
                    idle = 0.0
                else:
                    idle += 0.2
                    if idle >= 15:
                        idle = 0.0
                        yield ": still here\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    G = guarded
    return [
        Route("/", G(home)),
        Route("/compare", G(compare)),
        Route("/build", G(build_page)),
        Route("/t/{target}", G(grid)),
        Route("/t/{target}/i/{digest}", G(image)),
        Route("/t/{target}/review", G(review_page)),
        Route("/t/{target}/clusters", G(clusters_page)),
        Route("/t/{target}/file/{path:path}", G(artifact_file)),
        Route("/thumb/{digest}/{size:int}", thumb),
        Route("/static/{name}", static),
        Route("/api/label", G(api_label), methods=["POST"]),
        Route("/api/flag", G(api_flag), methods=["POST"]),
        Route("/api/review", G(api_review), methods=["POST"]),
        Route("/api/faces/name", G(api_faces_name), methods=["POST"]),
        Route("/api/faces/move", G(api_faces_move), methods=["POST"]),
        Route("/api/build", G(api_build), methods=["POST"]),
        Route("/api/build/stop", G(api_stop), methods=["POST"]),
        Route("/api/build/events", events),
    ]


def config_of(t) -> str:
    """The target's spec as YAML, secret-looking values hidden."""
    import yaml

    data = redact_config(t.config.model_dump(mode="json", exclude_none=True, exclude_defaults=True, by_alias=True))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).strip()


def blob_response(data: bytes, rel: str, digest: str, request: Request) -> Response:
    """Images as images, text as text; anything else (HTML, SVG, scripts) as a download, so an
    artifact's bytes can never run in the app's origin."""
    ext = posixpath.splitext(rel)[1].lower()
    headers = {**IMMUTABLE, "etag": f'"{digest}"'}
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    if ext in IMAGE_TYPES:
        return Response(data, media_type=IMAGE_TYPES[ext], headers=headers)
    if ext in TEXT_TYPES:
        return Response(data, media_type=TEXT_TYPES[ext], headers=headers)
    name = quote(posixpath.basename(rel))
    return Response(data, media_type="application/octet-stream",
                    headers={**headers, "content-disposition": f"attachment; filename*=UTF-8''{name}"})


def file_url(target: str, rel: str) -> str:
    return f"/t/{quote(target, safe='')}/file/{quote(rel)}"


def sidecar(view, path: str) -> str | None:
    """A generated image's JSON sidecar (images/NAME.json), when the artifact has one."""
    rel = posixpath.splitext(path)[0] + ".json"
    return rel if view is not None and rel in view.files else None


def pair_key(it: dict[str, Any]) -> tuple:
    """What makes two images "the same" across targets: the row, variations and copy of a
    generation; else the file name."""
    extra = it.get("extra") or {}
    if "row_index" in extra:
        return ("gen", extra["row_index"], tuple(sorted(it["variations"].items())), extra.get("copy", 0))
    return ("name", it["name"])


def summary(cat) -> dict[str, Any]:
    """The few numbers shown above a grid: verdict counts, mean adherence, per-value rates."""
    s = (cat.info.get("scores") or {}).get("summary") or {}
    return {"images": len(cat.items), "verdicts": s.get("verdicts"), "mean_adherence": s.get("mean_adherence"),
            "top_failing": (s.get("top_failing") or [])[:5]}


def load_static() -> dict[str, tuple[bytes, str]]:
    from importlib.resources import files

    folder = files(__package__) / "static"
    out = {}
    for entry in folder.iterdir():
        if entry.is_file():
            ctype = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
                ctype += "; charset=utf-8" if not ctype.startswith("image/") else ""
            out[entry.name] = (entry.read_bytes(), ctype)
    return out

