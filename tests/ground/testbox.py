"""The test image `ghcr.io/modelkeeper/testbox`: a few small behaviours that the
ground's own tests run as pods on its real node.

    testbox http  [--port 8080]        serve /, /healthz and Prometheus /metrics
    testbox exit  [--code 0] [--message TEXT | --message-file PATH] [--sleep SECONDS]
                                       write TEXT (or PATH's content) to the
                                       termination-message file, exit
The HTTP server binds TESTBOX_HOST when it is set and every address otherwise: the pod
has a network namespace of its own. Stdlib only: the image is just Python and this file.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType


class _Handler(BaseHTTPRequestHandler):
    served = 0

    def do_GET(self) -> None:
        _Handler.served += 1
        if self.path == "/metrics":
            body = (
                f"# TYPE testbox_requests_total counter\ntestbox_requests_total {_Handler.served}\n"
            )
        else:
            body = "ok\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a scrape a second would fill the log."""


def _serve(port: int) -> int:
    host = os.environ.get("TESTBOX_HOST") or "0.0.0.0"
    server = ThreadingHTTPServer((host, port), _Handler)

    def shutdown(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, shutdown)
    print(f"testbox serving on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _exit(code: int, message: str | None, sleep: float, termination_path: Path) -> int:
    time.sleep(sleep)
    if message is not None:
        termination_path.write_text(message)
    print(f"testbox exiting with {code}", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testbox")
    commands = parser.add_subparsers(dest="command", required=True)
    http = commands.add_parser("http")
    http.add_argument("--port", type=int, default=8080)
    exit_ = commands.add_parser("exit")
    exit_.add_argument("--code", type=int, default=0)
    exit_.add_argument("--message")
    exit_.add_argument("--message-file", type=Path)
    exit_.add_argument("--sleep", type=float, default=0.0)
    exit_.add_argument("--termination-path", type=Path, default=Path("/dev/termination-log"))
    args = parser.parse_args(argv)
    if args.command == "http":
        return _serve(args.port)
    message = args.message_file.read_text() if args.message_file else args.message
    return _exit(args.code, message, args.sleep, args.termination_path)


if __name__ == "__main__":
    sys.exit(main())
