#!/usr/bin/env python3
"""A minimal AWS Lambda Runtime API, enough for a custom-runtime bootstrap to start and answer.

Serves, on loopback:

  GET  /2018-06-01/runtime/invocation/next             the next queued event, with the
                                                        Lambda-Runtime-* headers; waits while
                                                        there is none (as Lambda does)
  POST /2018-06-01/runtime/invocation/{id}/response    the function's answer
  POST /2018-06-01/runtime/invocation/{id}/error       the function's error for an invocation
  POST /2018-06-01/runtime/init/error                  an error during init

and records when each call arrived (time.perf_counter_ns, the clock the driver reads before it
starts the process), so `cold-start` can tell process start -> first `/next`.

Python 3.11 standard library only. Used as a module by `bench/cold-start`; run alone it serves
the given events to whatever bootstrap is pointed at it and prints each record as a JSON line:

  python3 bench/runtime_api_stub.py --port 9001 --event event.json
  AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 AWS_LAMBDA_FUNCTION_NAME=f \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION='$LATEST' target/release/authorizer
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"
INVOCATION = re.compile(rf"^{PREFIX}/invocation/([^/]+)/(response|error)$")
# Lambda's default timeout for an authorizer-sized function; only sent as a deadline.
TIMEOUT_MS = 3_000


@dataclass
class Run:
    """What one process did against the stub."""

    events: queue.Queue = field(default_factory=queue.Queue)
    nexts: list[int] = field(default_factory=list)  # perf_counter_ns of each GET /next
    responses: list[tuple[int, str, bytes]] = field(default_factory=list)  # (ns, request id, body)
    errors: list[tuple[int, str, bytes]] = field(default_factory=list)  # invocation and init errors
    delivered: dict[str, int] = field(default_factory=dict)  # request id -> ns the event left
    changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, what: list, item) -> None:
        with self.changed:
            what.append(item)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def close(self) -> None:
        """Releases any `/next` still waiting (its process is gone or going)."""
        for _ in range(8):
            self.events.put(None)


class Stub:
    """The Runtime API on 127.0.0.1:`port` (0 = any free port), one `Run` at a time."""

    def __init__(self, port: int = 0) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                now = time.perf_counter_ns()
                run = stub.run
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b'{"errorMessage":"not found"}')
                run.record(run.nexts, now)
                event = run.events.get()
                if event is None:
                    self.close_connection = True
                    return
                request_id = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + TIMEOUT_MS
                trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": trace,
                }
                with run.changed:
                    run.delivered[request_id] = time.perf_counter_ns()
                self.reply(200, event, headers)

            def do_POST(self) -> None:  # noqa: N802
                now = time.perf_counter_ns()
                run = stub.run
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == f"{PREFIX}/init/error":
                    run.record(run.errors, (now, "init", body))
                    return self.reply(202, b'{"status":"OK"}')
                match = INVOCATION.match(self.path)
                if not match:
                    return self.reply(404, b'{"errorMessage":"not found"}')
                request_id, kind = match.groups()
                run.record(run.responses if kind == "response" else run.errors, (now, request_id, body))
                self.reply(202, b'{"status":"OK"}')

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

        self.run = Run()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def begin(self, events: list[bytes]) -> Run:
        """A fresh record for the next process; `events` are served in order, then `/next` waits."""
        self.run.close()
        run = Run()
        for event in events:
            run.events.put(event)
        self.run = run
        return run

    def stop(self) -> None:
        self.run.close()
        self.server.shutdown()
        self.server.server_close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--event", action="append", default=[], help="a JSON file to serve (repeatable)")
    args = parser.parse_args()
    events = []
    for path in args.event:
        with open(path, "rb") as file:
            events.append(file.read())
    stub = Stub(args.port)
    run = stub.begin(events)
    print(json.dumps({"listening": stub.address}), flush=True)
    seen = (0, 0, 0)
    try:
        while True:
            run.wait(lambda: (len(run.nexts), len(run.responses), len(run.errors)) != seen, 3600)
            with run.changed:
                nexts, responses, errors = list(run.nexts), list(run.responses), list(run.errors)
            for at in nexts[seen[0]:]:
                print(json.dumps({"next": at}), flush=True)
            for at, request_id, body in responses[seen[1]:]:
                print(json.dumps({"response": request_id, "at": at, "body": body.decode(errors="replace")}), flush=True)
            for at, request_id, body in errors[seen[2]:]:
                print(json.dumps({"error": request_id, "at": at, "body": body.decode(errors="replace")}), flush=True)
            seen = (len(nexts), len(responses), len(errors))
    except KeyboardInterrupt:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
