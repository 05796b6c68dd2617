"""Real processes for the tests: the `gymfloor` command, and Mosquitto brokers of their own.

Each broker runs on a free port with its own configuration, persistence directory and, when a
test asks, password file and ACL, so tests never touch a broker the machine already runs.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def gymfloor(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command to completion; `env` adds to this process's environment."""
    return subprocess.run(
        [GYMFLOOR, *args],
        input=stdin.decode() if stdin else None,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class Service:
    """A long-running `gymfloor` command whose stderr (the log) is collected as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**os.environ, "GYMFLOOR_LOG_FORMAT": "text", **(env or {})}
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Service:
        self.log.clear()
        self.process = subprocess.Popen(
            [GYMFLOOR, *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()
        return self

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.log.append(line)

    def wait_for_log(self, text: str, timeout: float = 60.0, count: int = 1) -> None:
        wait_until(
            lambda: sum(text in line for line in self.log) >= count or not self.running,
            timeout,
            f"{text!r} in the log of gymfloor {' '.join(self.args)}",
        )
        assert sum(text in line for line in self.log) >= count, "".join(self.log[-30:])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running:
            self.kill()


class Mosquitto:
    def __init__(
        self,
        directory: Path,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        port: int | None = None,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """`tls` is (CA, certificate, key): the listener then speaks only TLS."""
        self.directory = directory
        self.tls = tls is not None
        self.port = port or free_port()
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            # Started as root, mosquitto would switch to its own user, which may not write here.
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            *([f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"] if tls else []),
            "persistence true",
            f"persistence_location {directory}/",
            # Ingest may be away for a while; its session holds everything meanwhile.
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"allow_anonymous {'false' if users else 'true'}",
        ]
        if users:
            password_file = directory / "passwords"
            password_file.write_text("")
            for user, password in users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(password_file), user, password], check=True
                )
            lines.append(f"password_file {password_file}")
        if acl is not None:
            (directory / "acl").write_text(acl)
            lines.append(f"acl_file {directory / 'acl'}")
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_until(self._accepting, 10.0, f"mosquitto on port {self.port}")
        return self

    def stop(self) -> None:
        """A clean stop: the broker saves its sessions and queued messages."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError((self.directory / "mosquitto.log").read_text())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
