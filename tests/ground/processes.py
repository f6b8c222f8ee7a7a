"""Start, watch and stop the ground's processes: each on free loopback ports, each
with its own log file, each stopped by its own PID.

A failure to start says which component failed and where its log is, and shows the
log's tail, so that a broken ground never hangs a test run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class GroundError(RuntimeError):
    """A part of the test ground could not be built, started or reached."""


LISTEN_PORTS_FROM = 20000
"""Where the ports the ground's servers listen on start; they end below the kernel's range
for the local ports of outgoing connections."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now on `host`, picked at random below the kernel's range of
    local ports: the kernel's pick for port 0 comes from that range, where any outgoing
    connection may take it before the server that was given it binds (a liveness server
    once lost its port so)."""
    low, _ = (int(bound) for bound in EPHEMERAL_RANGE.read_text().split())
    for _ in range(100):
        port = LISTEN_PORTS_FROM + secrets.randbelow(max(low - LISTEN_PORTS_FROM, 1))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise GroundError(f"no free port on {host} from {LISTEN_PORTS_FROM} to {low}")


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, or a note that it is missing."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])


@dataclass
class Component:
    """One long-running process of the ground."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise GroundError(f"{self.name} was never started")
        return self.process.pid

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        with self.log.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    list(self.argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as error:
                raise GroundError(f"{self.name}: cannot run {self.argv[0]}: {error}") from error

    def failure(self, what: str) -> GroundError:
        """An error naming this component, what went wrong, its log and the log's tail."""
        return GroundError(
            f"{self.name} {what}; log: {self.log}\n--- last lines of {self.log.name} ---\n"
            f"{log_tail(self.log)}"
        )

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll `ready` until it holds; fail fast if the process exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise self.failure(f"exited with code {self.process.returncode} before {what}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise self.failure(f"was not {what} within {timeout:.0f}s")
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM its process group, wait up to `grace` seconds, then SIGKILL it."""
        if self.process is None or self.process.poll() is not None:
            return
        stop_pid(self.process.pid, grace)
        self.process.wait()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """Stop a process we started (it leads its own session) and everything in its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
