"""Real processes for the tests: the `gymfloor` command and its services, and Mosquitto brokers,
InfluxDB and PostgreSQL servers of their own.

Each server runs on a free port with its own configuration and data directory (and, when a test
asks, password file and ACL), so tests never touch a server the machine already runs.
"""

from __future__ import annotations

import base64
import getpass
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import psycopg

from gymfloor.ports import free_port

GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
INFLUX_DATABASE = "gymfloor"


def gymfloor(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command to completion; `env` adds to this process's environment."""
    return subprocess.run(
        [GYMFLOOR, *args],
        input=stdin.decode() if stdin else None,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


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


def ingest(broker: Mosquitto, data_dir: Path, **env: str) -> Service:
    return Service(
        "ingest",
        env={
            "GYMFLOOR_MQTT_URL": broker.url,
            "GYMFLOOR_DATA_DIR": str(data_dir),
            "GYMFLOOR_INGEST__CHECKPOINT_INTERVAL_S": "1",
            **env,
        },
    )


def replay(broker: Mosquitto, recording: Path, speed: float = 0.0) -> Service:
    return Service(
        "replay", str(recording), "--speed", str(speed), env={"GYMFLOOR_MQTT_URL": broker.url}
    )


@contextmanager
def api(data_dir: Path, *args: str, **env: str) -> Iterator[tuple[str, Service]]:
    """`gymfloor api ARGS` over the store in `data_dir`, on a free port, with `env` in its
    environment: its base URL and the service, once it answers. It must stop cleanly."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"GYMFLOOR_DATA_DIR": str(data_dir), **env}
    with Service("api", "--port", str(port), *args, env=env) as server:
        wait_until(lambda: _answers(f"{base}/healthz"), 30, "the API")
        yield base, server
        assert server.stop() == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def issue_token(data_dir: Path, *args: str) -> str:
    """`gymfloor tokens issue ARGS`: the token it prints."""
    done = gymfloor("tokens", "issue", *args, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Running:
    """Started on entering a `with` block, stopped on leaving it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerProcess(Running):
    """A server started for one test: its own port and directory, its log kept there."""

    program: str
    log_name: str
    start_timeout_s = 10.0
    stop_timeout_s = 10.0

    def __init__(self, directory: Path, port: int | None) -> None:
        self.directory = directory
        self.port = port or free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def answering(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        self.process = self.spawn()
        wait_until(self._ready, self.start_timeout_s, f"{self.program} on port {self.port}")
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """The process, started; `start` also waits until it answers."""
        return subprocess.Popen(
            [self.program, *self.arguments()],
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / self.log_name, "ab"),
        )

    def stop(self) -> None:
        """A clean stop, so the server saves what it keeps."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(self.stop_timeout_s)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError((self.directory / self.log_name).read_text())
        return self.answering()


class Mosquitto(ServerProcess):
    program = MOSQUITTO
    log_name = "mosquitto.log"

    def __init__(
        self,
        directory: Path,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        port: int | None = None,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """`tls` is (CA, certificate, key): the listener then speaks only TLS."""
        super().__init__(directory, port)
        self.tls = tls is not None
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

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def arguments(self) -> list[str]:
        return ["-c", str(self.config)]

    def answering(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False


class InfluxDB(ServerProcess):
    """A real InfluxDB 1.x (Debian's is 1.6.7), without authentication unless `admin` names an
    admin user ("user:password") that every query is sent as; `InfluxForwarder` gives it the
    /api/v2/write endpoint that gymfloor writes to."""

    program = INFLUXD
    log_name = "influxd.log"
    start_timeout_s = stop_timeout_s = 30.0

    def __init__(self, directory: Path, port: int | None = None, admin: str | None = None) -> None:
        super().__init__(directory, port)
        self.admin = admin
        self.config = directory / "influxdb.conf"
        self.config.write_text(
            f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{directory / "meta"}"
[data]
  dir = "{directory / "data"}"
  wal-dir = "{directory / "wal"}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if admin else "false"}
  log-enabled = false
[logging]
  level = "warn"
"""
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arguments(self) -> list[str]:
        return ["-config", str(self.config)]

    def query(self, influxql: str, db: str | None = None) -> list[dict[str, Any]]:
        """The rows of the first statement's result, each with its series' tags; times in ns."""
        return [
            {**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
            for series in self.series(influxql, db)
            for values in series["values"]
        ]

    def series(
        self, influxql: str, db: str | None = None, headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The series of the first statement's result as InfluxDB answers them (name, tags,
        columns, values), as Grafana receives them; times in ns."""
        form = {"q": influxql, "epoch": "ns", **({"db": db} if db else {})}
        if headers is None and self.admin:
            headers = {"Authorization": basic_authorization(self.admin)}
        request = urllib.request.Request(
            f"{self.url}/query",
            data=urllib.parse.urlencode(form).encode(),
            headers=headers or {},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result = json.load(response)["results"][0]
        if "error" in result:
            raise AssertionError(f"{influxql}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def answering(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as response:
                return bool(response.status == 204)
        except OSError:
            return False

    def start(self) -> Self:
        super().start()
        if self.admin:  # the first user, which InfluxDB lets anyone make while it has none
            user, _, password = self.admin.partition(":")
            self.series(
                f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES", headers={}
            )
        return self


def basic_authorization(credentials: str) -> str:
    """The Authorization header of "user:password"."""
    return "Basic " + base64.b64encode(credentials.encode()).decode()


class PostgreSQL(ServerProcess):
    """A real PostgreSQL, from Debian's packages, in a fresh cluster with trust authentication.

    PostgreSQL refuses to run as root; as root, the cluster belongs to the `postgres` user, in a
    directory of its own outside the tests' (which that user may not enter)."""

    log_name = "postgres.log"
    start_timeout_s = stop_timeout_s = 30.0

    def __init__(self, port: int | None = None) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="gymfloor-test-pg-")), port)
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.directory, "postgres")
        self.data = self.directory / "data"
        initdb = [str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        subprocess.run([*as_postgres, *initdb, "--no-sync"], check=True, capture_output=True)
        self.program, *self.prefix = [*as_postgres, str(binaries / "postgres")]

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self, name: str) -> str:
        """An empty database of its own on the server: its URL."""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres") as admin:
            admin.autocommit = True
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def arguments(self) -> list[str]:
        where = ["-D", str(self.data), "-p", str(self.port), "-k", str(self.directory)]
        # Durability is not what these tests are about; speed is welcome.
        settings = ["listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off"]
        return [*self.prefix, *where, *(arg for s in settings for arg in ("-c", s))]

    def answering(self) -> bool:
        try:
            psycopg.connect(
                f"host=127.0.0.1 port={self.port} user=postgres", connect_timeout=1
            ).close()
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)


PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


class InfluxForwarder(Running):
    """For the tests only: InfluxDB 1.8's own /api/v2/write, in front of Debian's InfluxDB 1.6.7,
    which predates it. Mapped as 1.8 maps it: bucket "db/rp" is database and retention policy,
    "db" the database with its default policy, org is ignored, precision ns/us/ms/s becomes
    n/u/ms/s, and "Authorization: Token user:password" is that user's basic authentication (on
    /query too, as Grafana sends it). The body (gzip too) and the answer pass through unchanged;
    with the server down the answer is 503, as from a proxy. GET /ping and /health and POST
    /query pass through too."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self.upstream

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/query":
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    return self._forward(self.path, body)
                if path != "/api/v2/write":
                    return self._answer(404, {}, b'{"error": "not found"}')
                params = urllib.parse.parse_qs(query)
                db, _, rp = params["bucket"][0].partition("/")
                precision = PRECISIONS[params.get("precision", ["ns"])[0]]
                target = {"db": db, "precision": precision, **({"rp": rp} if rp else {})}
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self._forward(f"/write?{urllib.parse.urlencode(target)}", body)

            def do_GET(self) -> None:
                if self.path.partition("?")[0] in ("/ping", "/health"):
                    self._forward(self.path, None)
                else:
                    self._answer(404, {}, b'{"error": "not found"}')

            def _forward(self, path: str, body: bytes | None) -> None:
                passed = ("Authorization", "Content-Encoding", "Content-Type")
                headers = {name: self.headers[name] for name in passed if name in self.headers}
                scheme, _, credentials = headers.get("Authorization", "").partition(" ")
                if scheme == "Token" and ":" in credentials:
                    headers["Authorization"] = basic_authorization(credentials)
                request = urllib.request.Request(upstream + path, body, headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(response.status, response.headers, response.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.headers, exc.read())
                except (OSError, http.client.HTTPException) as exc:
                    self._answer(503, {}, json.dumps({"error": str(exc)}).encode())

            def _answer(self, status: int, headers: Any, body: bytes) -> None:
                self.send_response(status)
                for name in ("Content-Type", "X-Influxdb-Error", "X-Influxdb-Version"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests' output is for the tests

        return Handler


@contextmanager
def influx_for_ingest(directory: Path) -> Iterator[tuple[InfluxDB, InfluxForwarder]]:
    """A real InfluxDB with gymfloor's database, and the forwarder that ingest writes to."""
    with InfluxDB(directory) as db, InfluxForwarder(db.url) as forwarder:
        db.query(f"CREATE DATABASE {INFLUX_DATABASE}")
        yield db, forwarder


def influx_env(url: str, **env: str) -> dict[str, str]:
    """gymfloor's settings for InfluxDB at `url` (ingest's, which Grafana reads too); `env` adds
    more."""
    return {
        "GYMFLOOR_INFLUX__URL": url,
        "GYMFLOOR_INFLUX__BUCKET": INFLUX_DATABASE,
        "GYMFLOOR_INFLUX__TOKEN": "test-token",
        **env,
    }


class ConfiguredMosquitto(Mosquitto):
    """Mosquitto run with a configuration file written for elsewhere (a container's, say): its
    listener moves to a free port on 127.0.0.1, the directories in `paths` to local ones, and its
    log to the test's log file; every other line is kept as it is."""

    def __init__(
        self, directory: Path, config: Path, paths: dict[str, Path], port: int | None = None
    ) -> None:
        ServerProcess.__init__(self, directory, port)
        self.tls = False
        lines = [f"user {getpass.getuser()}"]
        for line in config.read_text().splitlines():
            key = line.split(maxsplit=1)[0] if line.strip() else ""
            if key == "listener":
                line = f"listener {self.port} 127.0.0.1"
            elif key == "log_dest":
                line = "log_dest stderr"
            for there, here in paths.items():
                line = line.replace(there, f"{here}/")
            lines.append(line)
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
