"""Start a real `lazarus serve` process on a free loopback port, for contract tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import httpx

STARTUP_TIMEOUT_S = 120.0


def startup_timeout() -> float:
    """vLLM's engine takes 30-40 s to start here, several times that on a machine busy with other
    servers: the vllm runs raise the limit through LAZARUS_TEST_STARTUP_S (tests/conftest.py)."""
    return float(os.environ.get("LAZARUS_TEST_STARTUP_S", STARTUP_TIMEOUT_S))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LazarusProcess:
    """`lazarus serve <args>` on 127.0.0.1:<free port>; `.base_url`, `.output()`, `.stop()`."""

    def __init__(self, args: Sequence[str] = (), *, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="lazarus-serve-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "chuk_lazarus.cli", "serve", "--port", str(self.port), *args]
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        limit = startup_timeout()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lazarus serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"lazarus serve did not become ready in {limit}s:\n{self.output()}")

    def output(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
