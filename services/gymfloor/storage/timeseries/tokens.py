"""Least-privilege InfluxDB credentials for gymfloor's two InfluxDB clients: ingest may only
write the bucket, Grafana may only read it. The admin token makes them, and each is written
into a directory of its own that only its reader mounts (`gymfloor timeseries tokens`,
docs/SECURITY.md).

InfluxDB 2 gives each an authorization (an API token scoped to the bucket). InfluxDB 1.x has no
such tokens: each gets a user with a WRITE or READ grant on the database, and its token is
"user:password", which 1.8 accepts as a token."""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from gymfloor.redact import redact

if TYPE_CHECKING:
    from influxdb_client import InfluxDBClient

TOKEN_FILE = "token"
"""The token itself, readable by its reader only."""
ID_FILE = "id"
"""What identifies the credential on the server (an authorization id, a 1.x user name), so that
a later run can tell whether it still exists and a rotation can delete it."""


@dataclass(frozen=True)
class Reader:
    name: str
    privilege: Literal["read", "write"]


READERS = (Reader("ingest", "write"), Reader("grafana", "read"))


class TokenError(Exception):
    """The server refused or lacks what making the tokens needs; the message says which."""


class Credentials(Protocol):
    def exists(self, credential_id: str) -> bool: ...

    def create(self, reader: Reader) -> tuple[str, str]:
        """A new credential for `reader`: its id and its token."""
        ...

    def delete(self, credential_id: str) -> None: ...


class Authorizations:
    """InfluxDB 2's API tokens, each allowed one action on the one bucket."""

    def __init__(self, client: InfluxDBClient, org: str, bucket: str) -> None:
        self._api = client.authorizations_api()
        orgs = client.organizations_api().find_organizations(org=org)
        if not orgs:
            raise TokenError(f"InfluxDB has no organisation {org!r}")
        self._org_id: str = orgs[0].id
        found = client.buckets_api().find_bucket_by_name(bucket)
        if found is None:
            raise TokenError(f"InfluxDB has no bucket {bucket!r}")
        self._bucket_id: str = found.id
        self._bucket = bucket

    def exists(self, credential_id: str) -> bool:
        from influxdb_client.rest import ApiException

        try:
            found = self._api.find_authorization_by_id(credential_id)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return bool(found.status == "active")

    def create(self, reader: Reader) -> tuple[str, str]:
        from influxdb_client import Authorization, Permission, PermissionResource

        resource = PermissionResource(type="buckets", id=self._bucket_id, org_id=self._org_id)
        made = self._api.create_authorization(
            authorization=Authorization(
                org_id=self._org_id,
                permissions=[Permission(action=reader.privilege, resource=resource)],
                description=f"gymfloor {reader.name}: {reader.privilege} {self._bucket}",
            )
        )
        return str(made.id), str(made.token)

    def delete(self, credential_id: str) -> None:
        self._api.delete_authorization(credential_id)


class DatabaseUsers:
    """InfluxDB 1.x's users, each granted one privilege on the one database. Each credential is
    a user of its own (a random suffix), so that a rotation makes the new one before it drops
    the old. The admin's token is "user:password", sent as basic authentication, which every
    1.x release reads."""

    def __init__(self, url: str, admin_token: str, database: str, timeout_s: float) -> None:
        if ":" not in admin_token:
            raise TokenError("on InfluxDB 1.x the token must be an admin user's user:password")
        self._url, self._timeout_s = url, timeout_s
        self._authorization = "Basic " + base64.b64encode(admin_token.encode()).decode()
        self._database = database

    def _query(self, influxql: str) -> list[list[object]]:
        request = urllib.request.Request(
            f"{self._url}/query",
            data=urllib.parse.urlencode({"q": influxql}).encode(),
            headers={"Authorization": self._authorization},
            method="POST",
        )
        verb = influxql.split()[0]
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                (result,) = json.load(response)["results"]
        except urllib.error.HTTPError as exc:
            raise TokenError(f"InfluxDB refused {verb}: HTTP {exc.code}") from None
        except OSError as exc:
            raise TokenError(f"InfluxDB did not answer {verb}: {exc}") from None
        if "error" in result:
            raise TokenError(f"InfluxDB refused {verb}: {result['error']}")
        return [row for series in result.get("series", []) for row in series["values"]]

    def exists(self, credential_id: str) -> bool:
        return any(row[0] == credential_id for row in self._query("SHOW USERS"))

    def create(self, reader: Reader) -> tuple[str, str]:
        user = f"gymfloor-{reader.name}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(24)  # no quote or colon: safe in InfluxQL and token
        self._query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'")
        self._query(f'GRANT {reader.privilege.upper()} ON "{self._database}" TO "{user}"')
        return user, f"{user}:{password}"

    def delete(self, credential_id: str) -> None:
        self._query(f'DROP USER "{credential_id}"')


def credentials_for(url: str, token: str, org: str, bucket: str, timeout_s: float) -> Credentials:
    """The kind of credential the server at `url` makes, by the version its /ping reports."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout_s) as response:
            version = response.headers.get("X-Influxdb-Version", "")
    except OSError as exc:
        raise TokenError(f"InfluxDB at {redact(url)} does not answer: {exc}") from None
    if version.lstrip("v").startswith("1."):
        return DatabaseUsers(url, token, bucket.partition("/")[0], timeout_s)
    from influxdb_client import InfluxDBClient

    client = InfluxDBClient(url, token=token, org=org, timeout=round(timeout_s * 1000))
    with refusals_as_token_errors():
        return Authorizations(client, org, bucket)


@contextmanager
def refusals_as_token_errors() -> Iterator[None]:
    """InfluxDB 2's refusals (a wrong admin token, say) as a TokenError naming the status."""
    from influxdb_client.rest import ApiException

    try:
        yield
    except ApiException as exc:
        raise TokenError(f"InfluxDB refused: HTTP {exc.status} {exc.reason}") from None


@dataclass(frozen=True)
class Outcome:
    reader: Reader
    action: Literal["kept", "made", "rotated"]


def ensure_tokens(
    credentials: Credentials,
    directory: Path,
    owners: dict[str, int],
    *,
    rotate: bool,
) -> list[Outcome]:
    """Each reader's credential in `directory/<reader>/`: kept while it still exists on the
    server, else (or with `rotate`) made anew; a replaced credential is deleted once its
    successor is on disk. `owners` gives a reader's files to a user id (its container's)."""
    outcomes = []
    for reader in READERS:
        home = directory / reader.name
        old = _read(home / ID_FILE)
        if not rotate and old and (home / TOKEN_FILE).is_file() and credentials.exists(old):
            outcomes.append(Outcome(reader, "kept"))
            continue
        credential_id, token = credentials.create(reader)
        home.mkdir(parents=True, exist_ok=True)
        owner = owners.get(reader.name)
        _write(home / TOKEN_FILE, token, 0o400, owner)
        _write(home / ID_FILE, credential_id, 0o444, owner)
        if old and credentials.exists(old):
            credentials.delete(old)
        outcomes.append(Outcome(reader, "rotated" if old else "made"))
    return outcomes


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write(path: Path, text: str, mode: int, owner: int | None) -> None:
    """Atomically, with the mode and owner set before the file appears under its name."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text + "\n")
        os.chmod(temporary, mode)
        if owner is not None:
            os.chown(temporary, owner, owner)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
