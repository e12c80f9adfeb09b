"""A chat-completions server on 127.0.0.1 for adapter tests: it records what it receives and answers by
script (success, 429, 500, a stall past the client's timeout, a malformed body)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Loopback:
    def __init__(self, delay: float = 0.0):
        self.received: list[dict] = []  # {"path", "headers", "body"}
        self.script: list[str] = []  # consumed one per request; empty: "ok"
        self.delay = delay
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with owner.lock:
                    owner.received.append({"path": self.path, "headers": dict(self.headers),
                                           "body": json.loads(raw or b"{}")})
                    action = owner.script.pop(0) if owner.script else "ok"
                if owner.delay:
                    time.sleep(owner.delay)
                if action.startswith("sleep:"):
                    time.sleep(float(action.split(":")[1]))
                    action = "ok"
                if action in ("429", "500", "503", "400"):
                    payload = json.dumps({"error": {"message": f"scripted {action}"}}).encode()
                    self.send_response(int(action))
                    if action == "429":
                        self.send_header("Retry-After", "0")
                elif action == "malformed":
                    payload = b"<html>bad gateway</html>"
                    self.send_response(200)
                elif action == "no_choices":
                    payload = json.dumps({"id": "x", "choices": []}).encode()
                    self.send_response(200)
                elif self.path.rstrip("/").endswith("/chat"):  # Reka's REST shape
                    body = json.loads(raw or b"{}")
                    kinds = [p.get("type") for m in body.get("messages", []) for p in m.get("content", [])]
                    payload = json.dumps({"id": "r-1", "model": body.get("model"),
                                          "responses": [{"finish_reason": "stop", "message": {
                                              "role": "assistant", "content": "B " + json.dumps(kinds)}}],
                                          "usage": {"input_tokens": 300 + len(kinds), "output_tokens": 2}}).encode()
                    self.send_response(200)
                elif "generateContent" in self.path:  # Gemini's REST shape
                    body = json.loads(raw or b"{}")
                    kinds = [next(iter(p)) for c in body.get("contents", []) for p in c.get("parts", [])]
                    text = "B " + json.dumps(sorted(kinds))
                    payload = json.dumps({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                                          "finishReason": "STOP"}],
                                          "usageMetadata": {"promptTokenCount": 250 + len(kinds),
                                                            "candidatesTokenCount": 2, "totalTokenCount": 252}}).encode()
                    self.send_response(200)
                else:
                    body = json.loads(raw or b"{}")
                    parts = [p for m in body.get("messages", []) if isinstance(m.get("content"), list)
                             for p in m["content"]]
                    kinds = {}
                    for p in parts:
                        kinds[p["type"]] = kinds.get(p["type"], 0) + 1
                    text = "B " + json.dumps(kinds, sort_keys=True)
                    payload = json.dumps({"id": "cmpl-1", "object": "chat.completion",
                                          "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                       "finish_reason": "stop"}],
                                          "usage": {"prompt_tokens": 100 + len(parts), "completion_tokens": 3}}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # a stand-alone server process (benchmarks): python loopback.py DELAY
    import sys

    with Loopback(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as server:
        print(server.url, flush=True)
        server.thread.join()
