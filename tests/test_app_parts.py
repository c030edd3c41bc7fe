"""The review web app's parts without a server: catalogs and facets, queries in URLs, editing
override files in place, what the guard lets through, and what is redacted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from imagineer_build.app.catalog import catalog
from imagineer_build.app.graphsvg import graph_svg, layers
from imagineer_build.app.guard import Guard, host_name, is_loopback
from imagineer_build.app.query import Query, run
from imagineer_build.app.redact import REDACTED, Redactor, redact_config
from imagineer_build.core.artifact import ArtifactView
from imagineer_build.kinds.label.overrides_edit import set_fields


def album_view(n: int = 12) -> ArtifactView:
    hair, cut = ["red", "green", "blue"], ["mohawk", "bob"]
    images, scores, labels = [], {}, {}
    for i in range(n):
        d = f"{i:032x}"
        v = {"Hair": hair[i % 3], "Cut": cut[(i // 3) % 2]}
        images.append({"digest": d, "path": f"images/{i:03d}.png", "width": 64, "height": 64, "format": "png",
                       "origin": "generation:g", "phash": "", "caption": f"person {i}", "captions": [],
                       "extra": {"variations": v, "row": {"who": f"p{i % 4}"}, "seed": 100 + i, "prompt": f"p {i}",
                                 "row_index": i % 4, "copy": 0}})
        scores[d] = {"adherence": 20.0 + i, "chunks": 1, "matched": i % 3, "checked": 2, "score": i / n,
                     "verdict": ["failed", "partial", "success"][(i // 2) % 3], "flag": None,
                     "checks": {"Hair": {"intended": v["Hair"], "chosen": "red", "p": 0.5, "match": v["Hair"] == "red"}}}
        labels[d] = {"caption": f"label {i}", "tags": [v["Hair"], "x"] if i % 2 else [v["Hair"]], "nsfw": "SAFE"}
    meta = {"album": {"version": 1, "images": images}, "scores": {"images": scores, "summary": {}}, "labels": labels}
    return ArtifactView("f" * 32, {im["path"]: im["digest"] for im in images}, {}, meta, {}, Path("."))


def test_catalog_items_and_facets():
    cat = catalog("q", "scores", album_view())
    assert len(cat.items) == 12 and cat.item(f"{5:032x}")["seed"] == 105
    assert cat.facets == ["v.Cut", "v.Hair", "c.who", "verdict", "miss", "tag", "nsfw"]
    it = cat.items[1]
    assert it["caption"] == "label 1" and it["tags"] == ["green", "x"] and it["verdict"] == "failed"
    assert it["facets"]["miss"] == ["Hair"] and "miss" not in cat.items[0]["facets"]


def test_facet_counts_follow_the_other_filters():
    cat = catalog("q", "scores", album_view())
    q = Query.parse([("v.Hair", "red"), ("v.Hair", "blue"), ("verdict", "failed")])
    res = run(cat, q)
    want = [it["index"] for it in cat.items if it["variations"]["Hair"] in ("red", "blue") and it["verdict"] == "failed"]
    assert res.order == want
    # Hair's own counts ignore the Hair filter (what choosing another value would give)...
    failed = [it for it in cat.items if it["verdict"] == "failed"]
    assert dict(res.facets["v.Hair"]) == {h: sum(1 for it in failed if it["variations"]["Hair"] == h)
                                          for h in ("red", "green", "blue")}
    assert len(want) == 2
    # ...and the others count only what passes both filters
    assert sum(n for _, n in res.facets["v.Cut"]) == len(want)


def test_query_urls_round_trip_and_sort():
    q = Query.parse([("v.Hair", "red"), ("q", "Person"), ("sort", "score"), ("desc", "1"), ("page", "3"),
                     ("per", "50"), ("bogus", "x"), ("per", "7")])
    again = Query.parse([tuple(p.split("=")) for p in q.url(page=3)[1:].split("&")])
    assert again == q
    assert "page" not in q.url(toggle=("v.Hair", "blue"))  # a new filter starts at page 1
    assert q.url(toggle=("v.Hair", "red")).count("v.Hair") == 0
    cat = catalog("q", "scores", album_view())
    res = run(cat, Query.parse([("sort", "score"), ("desc", "1")]))
    assert [cat.items[i]["score"]["score"] for i in res.order] == sorted((i / 12 for i in range(12)), reverse=True)
    assert run(cat, Query.parse([("q", "label 1")])).order == [1, 10, 11]


def test_set_fields_keeps_what_people_wrote(tmp_path):
    p = tmp_path / "ov.yaml"
    p.write_text('# keep me\n"a":\n  caption: old   # and me\n  tags:\n  - x\n  - y\n  nsfw: SAFE\n'
                 '"b": {nsfw: SAFE}\nc:\n  caption: |\n    multi\n    line\n  note: n\n')
    text = set_fields(p, {"a": ({"tags": ["q"], "nsfw": "ADULT"}, {}), "b": ({"tags": []}, {}),
                          "c": ({"caption": "one", "add_tags": ["z"]}, {}), "d": ({"caption": "new"}, {"file": "d.png"})})
    assert text.startswith('# keep me\n"a":\n  caption: old   # and me\n  tags: ["q"]\n  nsfw: "ADULT"\n')
    assert yaml.safe_load(text) == {"a": {"caption": "old", "tags": ["q"], "nsfw": "ADULT"},
                                    "b": {"nsfw": "SAFE", "tags": []}, "c": {"add_tags": ["z"], "caption": "one", "note": "n"},
                                    "d": {"file": "d.png", "caption": "new"}}


def test_redaction_of_env_values_and_config_keys():
    r = Redactor({"ANTHROPIC_API_KEY": "sk-ant-12345678", "HF_TOKEN": "hf_abcdefgh", "HOME": "/root", "X_KEY": "short"})
    assert r("error: bad key sk-ant-12345678 (hf_abcdefgh) in /root") == f"error: bad key {REDACTED} ({REDACTED}) in /root"
    assert r("short") == "short"  # too short to be a secret worth cutting out
    cfg = {"labeler": "claude", "api_key": "x", "max_tokens": 100, "scrape": {"headers": {"Cookie": "c"}, "token": "t"}}
    assert redact_config(cfg) == {"labeler": "claude", "api_key": REDACTED, "max_tokens": 100,
                                  "scrape": {"headers": REDACTED, "token": REDACTED}}


def call(guard: Guard, method: str = "GET", path: str = "/", host: str = "127.0.0.1:8765",
         client: str = "127.0.0.1", headers: dict[str, str] | None = None, query: str = "") -> tuple[int, dict]:
    """One request through the guard to an app that answers 200."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    hs = [(b"host", host.encode()), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    scope = {"type": "http", "method": method, "path": path, "headers": hs, "client": (client, 5555),
             "query_string": query.encode()}
    guard.app = app
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_guard_hosts_clients_tokens_and_writes():
    local = Guard(None, local_only=True, token=None, csrf="c" * 8, cookie="imagineer_token_8765")
    assert call(local)[0] == 200
    assert call(local, host="localhost:8765")[0] == 200 and call(local, host="[::1]:8765")[0] == 200
    assert call(local, host="evil.example:8765")[0] == 403  # DNS rebinding
    assert call(local, host="127.0.0.1.evil.example")[0] == 403
    assert call(local, client="10.0.0.7")[0] == 403
    status, headers = call(local)
    assert "default-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert call(local, "POST")[0] == 403
    assert call(local, "POST", headers={"x-imagineer-csrf": "c" * 8})[0] == 200
    assert call(local, "POST", headers={"x-imagineer-csrf": "c" * 8, "origin": "http://evil.example"})[0] == 403
    assert call(local, "POST", headers={"x-imagineer-csrf": "c" * 8, "origin": "http://127.0.0.1:8765"})[0] == 200

    exposed = Guard(None, local_only=False, token="t0k3n-secret", csrf="c" * 8, cookie="imagineer_token_8765")
    assert call(exposed, host="box.lan:8765", client="10.0.0.7")[0] == 401
    status, headers = call(exposed, path="/t/x", query="token=t0k3n-secret&page=2")
    assert status == 303 and headers["location"] == "/t/x?page=2" and "HttpOnly" in headers["set-cookie"]
    assert call(exposed, headers={"cookie": "imagineer_token_8765=t0k3n-secret"})[0] == 200
    assert call(exposed, headers={"cookie": "imagineer_token_9999=t0k3n-secret"})[0] == 401  # another server's
    assert call(exposed, headers={"authorization": "Bearer t0k3n-secret"}, host="box.lan", client="10.0.0.7")[0] == 200
    assert call(exposed, query="token=wrong")[0] == 401


def test_loopback_names():
    assert [host_name(h) for h in ("[::1]:80", "localhost:1", "127.0.0.1", "::1")] == ["::1", "localhost", "127.0.0.1", "::1"]
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("0.0.0.0") and not is_loopback("lan")


def test_graph_layers_and_svg():
    preds = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    assert layers(preds) == {"a": 0, "b": 1, "c": 2, "d": 0}
    svg = graph_svg(preds, {"a": "fresh", "b": "stale"}, {"a": "source"})
    assert svg.count('class="edge"') == 3 and 'class="node fresh"' in svg and "<script" not in svg
