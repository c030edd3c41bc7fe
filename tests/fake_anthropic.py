"""A real HTTP server on 127.0.0.1 that speaks enough of the Messages and Message Batches APIs.

It answers each image according to a script keyed by the sha256 of the image bytes the client
sent (default: a good label), records every request, and counts calls per route, so tests can
assert request shapes, retries and exact call counts. Answers are derived from the image bytes,
so the same image always gets the same caption.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_DEFAULT = "record_image_label"
REVIEW_TOOL = "record_caption_review"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeAnthropic:
    """Start with `with FakeAnthropic(key) as fake:`; point the client at fake.url."""

    def __init__(self, api_key: str = "sk-test-key", latency: float = 0.0, polls_before_end: int = 1):
        self.api_key = api_key
        self.latency = latency
        self.polls_before_end = polls_before_end
        self.scripts: dict[str, list[str]] = {}
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.batches: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- scripting -----------------------------------------------------------------------

    def script(self, image: bytes, *actions: str) -> None:
        """What to answer for this image, call after call; the last action repeats.

        Actions: ok, ok:RATING, 429, 500, refusal, malformed (bad tool input), text (no tool call);
        for caption reviews also keep (verdict ok). A review answers fix with fixed_caption_for()
        unless the caption under review already is one.
        """
        self.scripts[sha(image)] = list(actions)

    def _next_action(self, image_sha: str) -> str:
        with self.lock:
            acts = self.scripts.get(image_sha)
            if not acts:
                return "ok"
            return acts.pop(0) if len(acts) > 1 else acts[0]

    @staticmethod
    def caption_for(image: bytes) -> str:
        return f"fake caption {sha(image)[:8]}"

    @staticmethod
    def fixed_caption_for(image: bytes) -> str:
        return f"fixed caption {sha(image)[:8]}"

    # ---- answers -------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, extra headers, JSON) for one Messages request."""
        problem = self._check_shape(body)
        if problem:
            return 400, {}, _error("invalid_request_error", problem)
        image = base64.b64decode(body["messages"][0]["content"][0]["source"]["data"])
        h = sha(image)
        act = self._next_action(h)
        if act == "429":
            return 429, {"retry-after-ms": "10", "retry-after": "0"}, _error("rate_limit_error", "slow down")
        if act == "500":
            return 500, {"retry-after-ms": "10"}, _error("api_error", "internal server error")
        tool_name = body.get("tool_choice", {}).get("name", TOOL_DEFAULT)
        rating = act.split(":", 1)[1] if act.startswith("ok:") else "SAFE"
        tags_only = "caption" not in body["tools"][0]["input_schema"]["properties"]
        args: dict[str, Any] = {"tags": ["fake", f"id-{h[:6]}"], "nsfw": rating, "confidence": 0.9}
        if not tags_only:
            args["caption"] = f"fake caption {h[:8]}"
        if tool_name == REVIEW_TOOL:
            under_review = body["messages"][0]["content"][1]["text"].split(":", 1)[-1].strip()
            if act == "keep" or under_review == f"fixed caption {h[:8]}":
                args = {"verdict": "ok"}
            else:
                args = {"verdict": "fix", "caption": f"fixed caption {h[:8]}", "reason": "too vague"}
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": f"toolu_{h[:12]}", "name": tool_name,
                                          "input": args}]
        stop = "tool_use"
        if act == "refusal":
            content, stop = [{"type": "text", "text": "I can't help with labeling this image."}], "refusal"
        elif act == "malformed":
            content[0]["input"] = {"caption": 42, "tags": "not a list", "nsfw": "MAYBE"}
        elif act == "text":
            content, stop = [{"type": "text", "text": "A nice picture."}], "end_turn"
        msg = {"id": f"msg_{h[:16]}", "type": "message", "role": "assistant", "model": body["model"],
               "content": content, "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": 100, "output_tokens": 20}}
        return 200, {}, msg

    @staticmethod
    def _check_shape(body: dict[str, Any]) -> str | None:
        try:
            assert isinstance(body["model"], str) and body["model"]
            assert isinstance(body["max_tokens"], int)
            block = body["messages"][0]["content"][0]
            assert block["type"] == "image" and block["source"]["type"] == "base64"
            assert block["source"]["media_type"] in ("image/png", "image/jpeg", "image/gif", "image/webp")
            schema = body["tools"][0]["input_schema"]
            assert schema["type"] == "object" and schema["additionalProperties"] is False
        except (KeyError, IndexError, TypeError, AssertionError):
            return "request does not have the expected shape"
        return None

    def _batch_view(self, b: dict[str, Any]) -> dict[str, Any]:
        ended = b["polls"] > self.polls_before_end
        n = len(b["requests"])
        counts = {"processing": 0 if ended else n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for r in b["results"]:
                counts[r["result"]["type"]] += 1
        return {"id": b["id"], "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": counts, "created_at": "2026-01-01T00:00:00Z",
                "expires_at": "2026-01-02T00:00:00Z", "ended_at": "2026-01-01T00:01:00Z" if ended else None,
                "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{self.url}/v1/messages/batches/{b['id']}/results" if ended else None}

    def _finish_batch(self, b: dict[str, Any]) -> None:
        results = []
        for req in b["requests"]:
            status, _, payload = self._answer(req["params"])
            if status == 200:
                res = {"type": "succeeded", "message": payload}
            else:
                res = {"type": "errored", "error": {"type": "error", "error": payload["error"]}}
            results.append({"custom_id": req["custom_id"], "result": res})
        b["results"] = list(reversed(results))  # any order: clients must match by custom_id

    # ---- HTTP ----------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

            def log_message(self, *a):
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                      jsonl: bool = False) -> None:
                data = (payload if jsonl else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("content-type", "application/binary" if jsonl else "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                key = self.headers.get("x-api-key")
                auth = self.headers.get("authorization", "")
                return key == fake.api_key or auth == f"Bearer {fake.api_key}"

            def _record(self, route: str, body: Any) -> None:
                with fake.lock:
                    fake.counts[route] += 1
                    fake.requests.append({"route": route, "path": self.path, "method": self.command,
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})

            def _route(self, body: Any) -> None:
                path = self.path.split("?")[0]
                if path == "/v1/messages" and self.command == "POST":
                    self._record("messages", body)
                    if not self._authorised():
                        return self._send(401, _error("authentication_error", "invalid x-api-key"))
                    if fake.latency:
                        time.sleep(fake.latency)
                    status, headers, payload = fake._answer(body)
                    return self._send(status, payload, headers)
                if path == "/v1/messages/batches" and self.command == "POST":
                    self._record("batch_create", body)
                    if not self._authorised():
                        return self._send(401, _error("authentication_error", "invalid x-api-key"))
                    with fake.lock:
                        bid = f"msgbatch_{len(fake.batches) + 1:04d}"
                        b = {"id": bid, "requests": body["requests"], "polls": 0, "results": []}
                        fake.batches[bid] = b
                    return self._send(200, fake._batch_view(b))
                parts = path.strip("/").split("/")
                if parts[:3] == ["v1", "messages", "batches"] and len(parts) >= 4 and self.command == "GET":
                    if not self._authorised():
                        return self._send(401, _error("authentication_error", "invalid x-api-key"))
                    b = fake.batches.get(parts[3])
                    if b is None:
                        return self._send(404, _error("not_found_error", "no such batch"))
                    if len(parts) == 5 and parts[4] == "results":
                        self._record("batch_results", None)
                        lines = "".join(json.dumps(r) + "\n" for r in b["results"])
                        return self._send(200, lines, jsonl=True)
                    self._record("batch_retrieve", None)
                    with fake.lock:
                        b["polls"] += 1
                        if b["polls"] > fake.polls_before_end and not b["results"]:
                            fake._finish_batch(b)
                    return self._send(200, fake._batch_view(b))
                self._record("unknown", body)
                return self._send(404, _error("not_found_error", f"no route {self.command} {path}"))

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    return self._send(400, _error("invalid_request_error", "body is not JSON"))
                self._route(body)

            def do_GET(self):
                self._route(None)

        return Handler


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


if __name__ == "__main__":  # run standalone for manual tries: python tests/fake_anthropic.py
    with FakeAnthropic() as f:
        print(f.url, flush=True)
        threading.Event().wait()
