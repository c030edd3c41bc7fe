"""Real remote peers on 127.0.0.1: S3 through moto's server, and a small HTTP cache server with
the Bazel layout (GET/PUT/HEAD under /cas/ and /ac/, plus /memo/)."""

from __future__ import annotations

import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = f"sekret-{uuid.uuid4().hex}"  # the AWS secret key the tests give; found nowhere afterwards


class S3:
    """moto's S3 server on a free port with one bucket; `url` is the remote prefix."""

    def __init__(self, bucket: str = "cache"):
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.bucket = bucket

    def __enter__(self) -> S3:
        import boto3

        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_SESSION_TOKEN": "", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        os.environ.update(self.env)
        self.client = boto3.client("s3", endpoint_url=self.endpoint)
        self.client.create_bucket(Bucket=self.bucket)
        self.url = f"s3://{self.bucket}/team"
        return self

    def settings(self) -> str:
        """The imagineer.yaml lines naming this remote."""
        return f"remote: {{url: '{self.url}', options: {{endpoint_url: '{self.endpoint}'}}}}\n"

    def objects(self) -> dict[str, bytes]:
        out = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for o in page.get("Contents", []):
                out[o["Key"]] = self.client.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
        return out

    def __exit__(self, *exc) -> None:
        self.server.stop()


class HttpCache:
    """A folder served over HTTP: GET, HEAD, PUT (written beside, then renamed). Counts requests;
    refuses requests without the bearer token when one is set."""

    def __init__(self, root: Path, token: str | None = None):
        self.root = root
        self.token = token
        self.requests: list[tuple[str, str]] = []
        cache = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _path(self) -> Path | None:
                parts = self.path.strip("/").split("/")
                if ".." in parts or not parts or parts[0] not in ("cas", "ac", "memo"):
                    return None
                return cache.root.joinpath(*parts)

            def _ok(self) -> bool:
                cache.requests.append((self.command, self.path))
                if cache.token and self.headers.get("Authorization") != f"Bearer {cache.token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def do_HEAD(self):
                if not self._ok():
                    return
                p = self._path()
                ok = p is not None and p.is_file()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", str(p.stat().st_size) if ok else "0")
                self.end_headers()

            def do_GET(self):
                if not self._ok():
                    return
                p = self._path()
                if p is None or not p.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = p.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                if not self._ok():
                    return
                p = self._path()
                n = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(n)
                if p is None:
                    self.send_response(400)
                else:
                    p.parent.mkdir(parents=True, exist_ok=True)
                    tmp = p.with_name(p.name + f".{uuid.uuid4().hex}")
                    tmp.write_bytes(data)
                    os.replace(tmp, p)
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpCache:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def consistent(root: Path) -> list[str]:
    """Problems of a folder remote (file:// layout): records naming blobs it lacks. A blob is
    there loose (cas/) or in a pack whose index was written."""
    import json

    packed: dict[str, bytes] = {}
    for idx in (root / "packs").glob("*.idx"):
        body = idx.with_suffix("").read_bytes()
        for d, (off, n) in json.loads(idx.read_bytes()).items():
            packed[d] = body[off:off + n]

    def blob(d: str) -> bytes | None:
        loose = root / "cas" / d[:2] / d
        return loose.read_bytes() if loose.is_file() else packed.get(d)

    problems = []
    for rec_path in (root / "ac").glob("*/*"):
        if ".tmp-" in rec_path.name:
            continue
        rec = json.loads(rec_path.read_bytes())
        manifest = blob(rec["artifact"])
        if manifest is None:
            problems.append(f"{rec['target']}: manifest missing")
            continue
        for rel, (d, _) in json.loads(manifest)["files"].items():
            if blob(d) is None:
                problems.append(f"{rec['target']}: {rel} missing")
    return problems


def corrupt_blob(root: Path, digest: str) -> None:
    """Give a blob on a folder remote other bytes of the same length, loose or inside its pack."""
    import json

    loose = root / "cas" / digest[:2] / digest
    if loose.is_file():
        loose.write_bytes(b"x" * len(loose.read_bytes()))
        return
    for idx in (root / "packs").glob("*.idx"):
        where = json.loads(idx.read_bytes()).get(digest)
        if where:
            pack = idx.with_suffix("")
            body = bytearray(pack.read_bytes())
            body[where[0]:where[0] + where[1]] = b"x" * where[1]
            pack.write_bytes(bytes(body))
            return
    raise AssertionError(f"{digest} is not on the remote")
