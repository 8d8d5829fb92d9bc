"""Protocol servers the tests start on 127.0.0.1: LibreTranslate's `/translate` API and an
OpenAI-compatible `/v1/chat/completions`. The client code under test is the real library code
(deep-translator, the openai SDK); only the far end is ours.

"Translation" comes from a phrase book built from the test corpus: the same segmentation that
the engine uses is applied to the English and Italian texts, and segments are paired in order.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from plugdata.translate import protect
from plugdata.translate.strategies import FIELDS, joint_text

from .conftest import ITEMS
from .loopback import LoopbackServer


def phrase_book(items: list[tuple[str, ...]] = ITEMS) -> dict[str, str]:
    """English segment (masked) -> Italian segment, and whole joint bodies for joint mode, for
    `items` laid out as `ITEMS` (English, Chinese, Italian pairs)."""
    book: dict[str, str] = {}
    for item in items:
        en = {"instruction": item[0], "response": item[1]}
        it = {"instruction": item[4], "response": item[5]}
        for name in FIELDS:
            a = protect.parse(en[name]).segments
            b = protect.parse(it[name]).segments
            book.update({x.text: y.text for x, y in zip(a, b, strict=True)})
        book[joint_text(en)[0]] = joint_text(it)[0]
    return book


def translator(book: dict[str, str]) -> Callable[[str], str]:
    """Whole texts from the book, else line by line, as machine translators treat newlines."""

    def translate(text: str) -> str:
        if text in book:
            return book[text]
        return "\n".join(book.get(line, line) for line in text.split("\n"))

    return translate


# Answers of the wrong shape with a 200 status, as `Script.add` takes them (body, headers): what
# a base_url pointing at a web page, a proxy or another API sends back.
WRONG_SHAPES = {
    "html page": (
        b"<!DOCTYPE html><html><body>Welcome</body></html>",
        {"Content-Type": "text/html"},
    ),
    "other json": ({"result": "ok", "data": [1, 2]}, {}),
    "truncated json": (b'{"id": "cmpl-1", "choices": [{"message": {"content": "Ci', {}),
}


class Script:
    """Forced answers: `(status, headers, body)` handed out in order before normal answers,
    optionally only for requests whose text contains `when`, or only once `after` requests
    have been answered (a server that works, then breaks)."""

    def __init__(self):
        self.items: list[tuple[str | None, int, int, dict, object]] = []
        self.lock = threading.Lock()
        self.seen = 0

    def add(
        self,
        status: int,
        body: object = None,
        headers: dict | None = None,
        when: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        for _ in range(times):
            self.items.append((when, after, status, headers or {}, body))

    def take(self, text: str):
        with self.lock:
            self.seen += 1
            for i, (when, after, status, headers, body) in enumerate(self.items):
                if (when is None or when in text) and self.seen > after:
                    del self.items[i]
                    return status, headers, body
        return None


class _Server(LoopbackServer):
    def __init__(self, translate: Callable[[str], str] | None = None, delay: float = 0.0):
        self.translate = translate or translator(phrase_book())
        self.delay = delay
        self.script = Script()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, headers, body = server.handle(self.path, self.headers, raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                if "Content-Type" not in headers:  # a scripted answer may say it is a page
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                status, body = server.handle_get(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    def handle_get(self, path: str) -> tuple[int, dict]:
        return 404, {"error": {"message": f"no GET {path}"}}


class LibreServer(_Server):
    """LibreTranslate: POST /translate with q, source, target (query string or form)."""

    def handle(self, path, headers, raw):
        parsed = urllib.parse.urlparse(path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        params.update(urllib.parse.parse_qsl(raw.decode()))
        text = params.get("q", "")
        with self.lock:
            self.requests.append(params)
        if self.delay:
            time.sleep(self.delay)
        forced = self.script.take(text)
        if forced:
            return forced
        return 200, {}, {"translatedText": self.translate(text)}


class ChatServer(_Server):
    """OpenAI chat completions: translates the user message; usage counted by characters.
    `GET /v1/models` lists one model and is counted in `listings`."""

    listings = 0

    def handle_get(self, path):
        if path.rstrip("/").endswith("/models"):
            with self.lock:
                self.listings += 1
            return 200, {"object": "list", "data": [{"id": "judge", "object": "model"}]}
        return super().handle_get(path)

    def handle(self, path, headers, raw):
        payload = json.loads(raw or b"{}")
        with self.lock:
            self.requests.append({"path": path, "auth": headers.get("Authorization"), **payload})
        if self.delay:
            time.sleep(self.delay)
        text = next((m["content"] for m in payload.get("messages", []) if m["role"] == "user"), "")
        forced = self.script.take(text)
        if forced:
            status, hdrs, body = forced
            if body == "hang":
                time.sleep(2)
                return 200, {}, completion("late", payload)
            return status, hdrs, completion(body, payload) if isinstance(body, str) else body
        return 200, {}, completion(self.translate(text), payload)


def completion(content: str, payload: dict) -> dict:
    return {
        "id": "cmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": payload.get("model", "test"),
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def drop_tokens(text: str) -> str:
    """A translator that loses protected tokens, as real ones sometimes do."""
    return re.sub(r"⟦\d+⟧", "", text)
