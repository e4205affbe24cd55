"""The fleet's processes talk in JSON lines: a request on the child's stdin, one reply on its stdout.

Plain subprocesses rather than multiprocessing: each is a pid whose CPU and memory /proc can show,
nothing is unpickled, and a child's log goes to its own file (stderr) so its stdout stays protocol.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ChildFailed(Exception):
    """A fleet process died, answered with an error or did not answer in time."""


class Child:
    """`python -m MODULE SPEC` as a child process, spoken to in JSON lines."""

    def __init__(self, module: str, spec: Path, log: Path) -> None:
        self.name = f"{module.rsplit('.', 1)[-1]}:{spec.stem}"
        self.log = log
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, str(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        self._replies: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, name=f"reply-{self.name}", daemon=True).start()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put(b"")  # end of file: the child is gone

    def send(self, request: Mapping[str, Any]) -> None:
        """Send a request without waiting for its reply (see `reply`)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise ChildFailed(f"{self.name}: cannot send {request.get('cmd')}: {exc}{self._tail()}") from exc

    def reply(self, timeout: float) -> dict[str, Any]:
        """The next reply, or ChildFailed after `timeout` seconds, on exit or on an error reply."""
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise ChildFailed(f"{self.name}: no reply within {timeout:.0f} s{self._tail()}") from None
        if not line:
            raise ChildFailed(f"{self.name}: exited with {self.proc.wait(5)}{self._tail()}")
        body: dict[str, Any] = json.loads(line)
        if "error" in body:
            raise ChildFailed(f"{self.name}: {body['error']}{self._tail()}")
        return body

    def request(self, request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Send and wait (bounded) for the reply."""
        self.send(request)
        return self.reply(timeout)

    def _tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
        return "".join(f"\n  | {line}" for line in lines)

    def close(self, timeout: float = 30.0) -> None:
        """Ask it to stop, then end it (SIGTERM, SIGKILL) if it does not within `timeout`."""
        if self.proc.poll() is None:
            try:
                self.request({"cmd": "stop"}, timeout)
            except ChildFailed:
                self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def serve(handlers: Mapping[str, Handler]) -> None:
    """The child's side: answer each request line with its handler's reply, until `stop` or EOF."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        cmd = request.get("cmd", "")
        handler = handlers.get(cmd)
        try:
            reply = {"error": f"unknown command {cmd!r}"} if handler is None else handler(request)
        except Exception as exc:  # noqa: BLE001  # any failure is the parent's to report: it fails the run
            traceback.print_exc()
            reply = {"error": f"{cmd}: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
        out.flush()
        if cmd == "stop":
            return
