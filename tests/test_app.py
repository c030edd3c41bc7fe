"""`imagineer serve` end to end: the real CLI serves a built project on 127.0.0.1 and Debian's
Chromium (through Playwright) browses, filters, edits, flags and builds; the files it writes
are the ones the CLI writes, and the next build applies them. Screenshots of the main pages
go to the test's tmp folder (IMAGINEER_DOCS_SHOTS=DIR also copies the grid there)."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
import yaml
from app_helpers import (
    CHROMIUM_FLAGS,
    SECRET,
    Server,
    chromium_path,
    csrf_of,
    make_project,
    raw_get,
    raw_post,
    read_events,
    show,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("app") / "proj")
    r = project.build()
    assert r.code == 0, r.err[-3000:]
    return project


@pytest.fixture(scope="module")
def server(proj):
    s = Server(proj.root, env={"ANTHROPIC_API_KEY": SECRET})
    yield s
    err = s.close()
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing; CI must install it (apt-get install chromium)")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.base)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors  # no script error, no resource refused by the CSP


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def snap(page, shots, name: str) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    docs = os.environ.get("IMAGINEER_DOCS_SHOTS")
    if docs and name == "grid":
        shutil.copy(path, os.path.join(docs, "serve-grid.png"))


def wait_images(page, timeout: float = 60) -> None:
    """Until every image of the page has loaded (polled: the app's CSP forbids the eval that
    Playwright's wait_for_function needs)."""
    import time

    end = time.monotonic() + timeout
    while not page.evaluate("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"):
        assert time.monotonic() < end, "images did not load"
        time.sleep(0.1)


def images_of(proj, target):
    return show(proj, target)["meta"]["album"]["images"]


def test_grid_filters_by_variation_and_the_image_page_shows_everything(proj, page, shots):
    page.goto("/")
    assert page.locator("svg.graph g.node").count() == 4
    assert page.locator("table.targets span.status.fresh").count() == 4
    snap(page, shots, "home")

    page.goto("/t/cards-q")
    cards = page.locator("#grid figure.card")
    assert cards.count() == 12
    wait_images(page)
    snap(page, shots, "grid")

    want = sum(1 for im in images_of(proj, "cards-q") if im["extra"]["variations"]["HairColor"] == "red")
    assert want == 4
    facet = page.locator('section.facet[data-facet="v.HairColor"] a[data-value="red"]')
    assert facet.locator(".n").inner_text() == str(want)
    facet.click()
    page.wait_for_url(re.compile(r"v\.HairColor=red"))
    assert cards.count() == want
    assert page.locator("#count").get_attribute("data-total") == str(want)
    # counts of the other facets follow the filter: the red images are 2 per haircut
    assert page.locator('section.facet[data-facet="v.HairCut"] a[data-value="bob"] .n').inner_text() == "2"
    page.locator('section.facet[data-facet="v.HairCut"] a[data-value="bob"]').click()
    page.wait_for_url(re.compile(r"v\.HairCut=bob"))
    assert cards.count() == 2
    snap(page, shots, "grid-filtered")

    cards.first.locator("a").click()
    page.wait_for_url(re.compile(r"/t/cards-q/i/[0-9a-f]{32}\?"))
    digest = page.url.split("/i/")[1].split("?")[0]
    im = next(i for i in images_of(proj, "cards-q") if i["digest"] == digest)
    meta = page.locator("#meta").inner_text()
    for text in (im["extra"]["prompt"], str(im["extra"]["seed"]), "HairColor\tred", "HairCut\tbob",
                 f"character\t{im['extra']['row']['character']}"):
        assert text in meta
    assert page.locator("text=1 of 2").count() == 1  # position within the filtered list
    assert page.locator('section.in-target[data-target="cards-q"] .checks tr').count() == 4  # 3 checks + head
    assert page.locator("#full").evaluate("i => i.naturalWidth") == 64
    snap(page, shots, "image")


def test_edit_a_caption_then_build_from_the_page(proj, page, shots):
    im = images_of(proj, "cards-labels")[0]
    page.goto(f"/t/cards-labels/i/{im['digest']}")
    form = page.locator('form[data-api="/api/label"]')
    form.locator("textarea[name=caption]").fill("a knight with red hair, hand-written")
    form.locator("input[name=tags]").fill("red, mohawk, hand")
    form.locator("button[type=submit]").click()
    result = form.locator("output.result.ok")
    result.wait_for()
    assert "labels/cards-labels.yaml" in result.inner_text()
    data = yaml.safe_load((proj.root / "labels" / "cards-labels.yaml").read_text())
    assert data == {im["digest"]: {"file": im["path"].split("/")[-1], "caption": "a knight with red hair, hand-written",
                                   "tags": ["red", "mohawk", "hand"]}}

    result.locator("button[data-build]").click()  # the page offers to build what applies it
    page.wait_for_url(re.compile(r"/build\?run=\d+"))
    page.wait_for_selector("#build[data-done]", timeout=120_000)
    assert page.locator("#build").get_attribute("data-done") == "done"
    assert int(page.locator("#build").get_attribute("data-progress") or 0) > 0  # per-item progress arrived
    assert page.locator('#targets-progress tr[data-target="cards-labels"] .st').inner_text() == "built"
    assert "cards-labels: built" in page.locator("#log").inner_text()
    snap(page, shots, "build")
    label = show(proj, "cards-labels")["meta"]["labels"][im["digest"]]
    assert label["caption"] == "a knight with red hair, hand-written" and label["overridden"]
    assert label["tags"] == ["red", "mohawk", "hand"]
    page.goto("/t/cards-labels?tag=hand")  # the grid shows the new build, and which image was edited
    assert page.locator("#grid figure.card").count() == 1
    assert page.locator(f'figure.card[data-digest="{im["digest"]}"] .badge.edited').count() == 1


def test_flag_from_the_grid_and_two_tabs_never_lose_an_edit(proj, browser, page, server):
    ims = images_of(proj, "cards-q")
    page.goto("/t/cards-q")
    card = page.locator(f'figure.card[data-digest="{ims[1]["digest"]}"]')
    card.locator('button[data-flag="failed"]').click()
    page.wait_for_selector(f'figure.card[data-digest="{ims[1]["digest"]}"] button[data-flag="failed"].on')
    flags_file = proj.root / "flags" / "cards-q.yaml"
    assert yaml.safe_load(flags_file.read_text()) == {ims[1]["digest"]: {"flag": "failed", "file": ims[1]["path"].split("/")[-1]}}

    # two tabs open the same image; both flag it: the second is refused, the first stays
    other = page.context.new_page()
    for tab in (page, other):
        tab.goto(f"/t/cards-q/i/{ims[2]['digest']}")
    page.locator('.flagger.big button[data-flag="ok"]').click()
    page.wait_for_selector(".flagger.big output.result.ok")
    other.locator('.flagger.big button[data-flag="failed"]').click()
    other.wait_for_selector(".flagger.big output.result.conflict")
    assert "changed since this page was loaded" in other.locator(".flagger.big output").inner_text()
    assert yaml.safe_load(flags_file.read_text())[ims[2]["digest"]]["flag"] == "ok"
    # a tab that edits another image than the first tab did is not refused: both edits are kept
    other.goto(f"/t/cards-q/i/{ims[3]['digest']}")
    other.locator('.flagger.big button[data-flag="failed"]').click()
    other.wait_for_selector(".flagger.big output.result.ok")
    kept = yaml.safe_load(flags_file.read_text())
    assert {d: v["flag"] for d, v in kept.items()} == {ims[1]["digest"]: "failed", ims[2]["digest"]: "ok",
                                                       ims[3]["digest"]: "failed"}
    other.close()


def test_approve_a_review_proposal(proj, page):
    im = images_of(proj, "cards-labels")[5]
    proposal = show(proj, "cards-labels")["meta"]["review"]["results"][im["digest"]]["proposal"]
    page.goto("/t/cards-labels/review")
    row = page.locator(f'.review[data-digest="{im["digest"]}"]')
    row.locator('button[data-decision="approved"]').click()
    row.locator("output.result.ok").wait_for()
    assert row.locator(".review-status").inner_text() == "approved"
    review = yaml.safe_load((proj.root / "reviews" / "cards-labels.yaml").read_text())
    assert review[im["digest"]]["status"] == "approved" and review[im["digest"]]["applied"] is True
    overrides = yaml.safe_load((proj.root / "labels" / "cards-labels.yaml").read_text())
    assert overrides[im["digest"]]["caption"] == proposal


def test_compare_two_targets(page):
    page.goto("/compare?a=cards&b=cards-q&v.HairCut=mohawk")
    assert page.locator(".pair:not(.head)").count() == 6
    assert "6 of 6 images of cards have a counterpart" in page.locator("#count").inner_text()


def test_paths_hosts_and_writes_are_refused(proj, server):
    port = server.port
    status, _, body = raw_get(port, "/t/cards/file/images/001_knight_red_mohawk.png")
    assert status == 200 and body[:4] == b"\x89PNG"
    for path in ("/t/cards/file/../../imagineer.yaml", "/t/cards/file/..%2f..%2fimagineer.yaml",
                 "/t/cards/file/%2e%2e/%2e%2e/specs/main.yaml", "/t/..%2fcards/file/images/001_knight_red_mohawk.png",
                 "/static/../pages.py", "/static/..%2fpages.py", "/static/%2e%2e%2fserver.py",
                 "/thumb/..%2f..%2fimagineer.yaml/320", "/t/cards/file//etc/passwd", "/../../../../etc/passwd"):
        status, _, body = raw_get(port, path)
        assert status in (400, 404), (path, status)
        assert b"imagineer.yaml" not in body or b"no file" in body
        assert b"generations:" not in body and b"root:" not in body
    # a blob in the store but of no artifact (an input listing, a memo entry) is not served
    store_blobs = {p.name for p in (proj.root / "cache" / "blobs").glob("*/*")}

    served = set()  # every file of every artifact the lock names may be shown; nothing else
    for entry in yaml.safe_load((proj.root / "imagineer.lock").read_text())["targets"].values():
        d = entry["artifact"]
        manifest = json.loads((proj.root / "cache/blobs" / d[:2] / d).read_bytes())
        served |= {d, *(v[0] for v in manifest["files"].values())}
    stranger = sorted(store_blobs - served)[0]
    assert raw_get(port, f"/thumb/{stranger}/320")[0] == 404
    # DNS rebinding: another name for this address is refused
    status, _, body = raw_get(port, "/", host=f"evil.example:{port}")
    assert status == 403 and b"only to localhost" in body
    assert raw_get(port, "/", host=f"localhost:{port}")[0] == 200
    # writes need the page's CSRF token and this origin
    d = images_of(proj, "cards-q")[0]["digest"]
    status, body = raw_post(port, "/api/flag", {"target": "cards-q", "digest": d, "seen": "none", "flag": "ok"})
    assert status == 403 and "CSRF" in body["error"]
    csrf = re.search(rb'name="imagineer-csrf" content="([^"]+)"', raw_get(port, "/")[2]).group(1).decode()
    status, body = raw_post(port, "/api/flag", {"target": "cards-q", "digest": d, "seen": "none", "flag": "ok"},
                            {"x-imagineer-csrf": csrf, "origin": "http://evil.example"})
    assert status == 403 and "another origin" in body["error"]
    assert d not in (yaml.safe_load((proj.root / "flags" / "cards-q.yaml").read_text()) or {})


def test_a_page_build_waits_for_a_cli_build_holding_the_store_lock(proj, server):
    from imagineer_build.core.store import LocalStore

    port = server.port
    store = LocalStore(proj.root / "cache")
    with store.build_lock("imagineer build (the test)"):
        status, body = raw_post(port, "/api/build", {"targets": ["cards-q"]}, {"x-imagineer-csrf": csrf_of(port)})
        assert status == 200, body
        run = body["run"]
        evs = read_events(port, run - 1, lambda e: e["event"] == "log" and "waiting for the build lock" in e["message"])
        assert "imagineer build (the test)" in evs[-1]["message"]
        assert not any(e["event"] in ("start", "target") for e in evs)  # nothing ran while the lock was held
        status, body = raw_post(port, "/api/build", {"targets": []}, {"x-imagineer-csrf": csrf_of(port)})
        assert status == 409 and "is running" in body["error"]  # one page build at a time
    evs = read_events(port, run - 1, lambda e: e["event"] == "done")
    assert evs[-1]["status"] == "done"
    assert {e["target"]: e["status"] for e in evs if e["event"] == "target"}["cards-q"] in ("built", "cached")


def test_no_secret_reaches_any_page(proj, server):
    port = server.port
    ims = images_of(proj, "cards-labels")
    paths = ["/", "/build", "/compare?a=cards&b=cards-q", "/t/cards-labels/review", "/api/build/events?after=0"]
    paths += [f"/t/{t}" for t in ("cards", "cards-q", "cards-labels", "cards-ds")]
    paths += [f"/t/{t}/i/{ims[0]['digest']}" for t in ("cards", "cards-q", "cards-labels", "cards-ds")]
    for path in paths:
        if path.startswith("/api/build/events"):
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read1(65536)  # what the stream has so far
            conn.close()
        else:
            status, _, body = raw_get(port, path)
            assert status == 200, path
        assert SECRET.encode() not in body, path


def test_exposed_server_requires_its_token(proj, browser, shots):
    s = Server(proj.root, "--host", "0.0.0.0")
    try:
        assert "?token=" in s.url
        token = s.url.split("?token=")[1]
        port = s.port
        status, _, body = raw_get(port, "/")
        assert status == 401 and b"access token" in body
        assert raw_get(port, "/t/cards/file/images/001_knight_red_mohawk.png")[0] == 401
        assert raw_get(port, "/", headers={"x-imagineer-token": token})[0] == 200
        assert raw_get(port, "/", headers={"authorization": f"Bearer {token}"})[0] == 200
        assert raw_get(port, "/", headers={"x-imagineer-token": token[:-1] + "x"})[0] == 401
        # --host given: other Host names are accepted, with the token
        assert raw_get(port, "/", host="imagineer.lan", headers={"x-imagineer-token": token})[0] == 200
        status, headers, _ = raw_get(port, f"/?token={token}")
        assert status == 303 and headers["location"] == "/" and "HttpOnly" in headers["set-cookie"]
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.goto(s.url.replace("0.0.0.0", "127.0.0.1"))
        assert pg.url.endswith("/") and "token" not in pg.url  # the token left the address bar
        assert pg.locator("table.targets tr[data-target]").count() == 4
        pg.goto(f"http://127.0.0.1:{port}/t/cards")
        wait_images(pg)
        ctx.close()
    finally:
        s.close()


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Six photos of two real people (examples/people) and a faces target over them."""
    from app_helpers import make_people

    project = make_people(tmp_path_factory.mktemp("people") / "proj")
    r = project.build()
    assert r.code == 0, r.err[-3000:]
    return project


def test_name_a_cluster_and_move_a_face(people, browser, shots):
    s = Server(people.root)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=s.base)
        pg = ctx.new_page()
        pg.goto("/t/family/clusters")
        assert pg.locator("section.cluster").count() == 2
        first = pg.locator('section.cluster[data-cluster="1"]')
        eileen = "eileen" in first.locator(".strip img").first.get_attribute("alt")
        first.locator("input[name=name]").fill("Eileen" if eileen else "Grace")
        first.locator("button[type=submit]").click()
        first.locator("output.result.ok").wait_for()
        snap(pg, shots, "people")
        people_file = yaml.safe_load((people.root / "people" / "family.yaml").read_text())
        assert people_file["clusters"][1]["name"] == ("Eileen" if eileen else "Grace")
        assert all(c["centroid"].startswith("f16:") for c in people_file["clusters"].values())  # numbers pinned

        faces = show(people, "family")["meta"]["album"]["images"]
        grace = next(im for im in faces if im["path"].endswith("grace_bright.png"))
        face = grace["extra"]["faces"][0]
        pg.goto(f"/t/family/i/{grace['digest']}")
        form = pg.locator(f'form.face[data-face="{face["id"]}"]')
        form.locator("input[name=to]").fill("Grace Hopper")
        form.locator("button[type=submit]").click()
        form.locator("output.result.ok").wait_for()
        people_file = yaml.safe_load((people.root / "people" / "family.yaml").read_text())
        assert people_file["faces"][face["id"]] == {"person": "Grace Hopper", "file": "images/grace_bright.png"}
        ctx.close()
    finally:
        s.close()
    r = people.build()
    assert r.code == 0, r.err[-2000:]
    meta = show(people, "family")["meta"]
    assert "Grace Hopper" in meta["faces"]["names"]
    assert ("Eileen" if eileen else "Grace") in [c["name"] for c in meta["faces"]["clusters"]]
