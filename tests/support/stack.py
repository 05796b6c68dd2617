"""The production stack's files (docker-compose.yml and docker-compose.cluster.yml, .env.example,
the Dockerfile, the broker's ACL and the NATS cluster's users), read as Docker, Mosquitto and NATS
read them, for the tests of the files and of the stack run for real."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gymfloor.contract import MachineKey
from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
CLUSTER_COMPOSE = ROOT / "docker-compose.cluster.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
NATS_DIR = ROOT / "deploy" / "nats"
CHECK_DEFAULTS = ROOT / "deploy" / "check-defaults"
VALUE = re.compile(r"[A-Z_][A-Z0-9_]*=")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a `$`.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")

# Machines with broker logins of their own (GYM.MACHINE), in the tests of the ACL.
MACHINE_KEY = MachineKey("g1", "lp-07")
OTHER_KEY = MachineKey("g1", "lp-08")
MACHINE = "g1.lp-07"
OTHER = "g1.lp-08"


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value
    return values


def development_defaults() -> dict[str, str]:
    """The secrets .env.example marks DEVELOPMENT DEFAULT, with their values."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    marked = (
        line
        for above, line in itertools.pairwise(lines)
        if above.startswith("#") and "DEVELOPMENT DEFAULT" in above and VALUE.match(line)
    )
    return dict(line.partition("=")[::2] for line in marked)


def check_defaults(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy/check-defaults, as the check-defaults service runs it: next to a copy of
    .env.example (its mounts), with `env` as the stack's variables."""
    for source, name in ((CHECK_DEFAULTS, "check-defaults"), (ENV_EXAMPLE, "env.example")):
        shutil.copyfile(source, directory / name)
    return subprocess.run(
        ["sh", str(directory / "check-defaults")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, enough for this file."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        value, op, arg = env.get(match["name"]), match["op"] or "", match["arg"]
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise AssertionError(f"{match['name']} is required: {arg}")
        return value or ""

    return VARIABLE.sub(substitute, text)


def load_compose(env: dict[str, str] | None = None, path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file, its variables substituted from `env` (unless None), every `extends`
    resolved."""
    text = path.read_text()
    document: dict[str, Any] = yaml.safe_load(interpolate(text, env) if env is not None else text)
    services = document["services"]
    for name, service in services.items():
        if "extends" in service:
            base_file = path.parent / service["extends"].get("file", path.name)
            base = load_compose(env, base_file)["services"][service["extends"]["service"]]
            services[name] = extended(base, {k: v for k, v in service.items() if k != "extends"})
    return document


def extended(base: dict[str, Any], local: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge of a service over the one it extends, enough for these files: mappings
    merged key by key, volumes by their path in the container, the rest replaced."""
    result = dict(base)
    for key, value in local.items():
        if key == "volumes":
            by_target = {_mount_target(v): v for v in [*base.get(key, []), *value]}
            result[key] = list(by_target.values())
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            result[key] = extended(base[key], value)
        else:
            result[key] = value
    return result


def _mount_target(volume: str | dict[str, Any]) -> str:
    return str(volume["target"]) if isinstance(volume, dict) else volume.split(":")[1]


def is_ours(service: dict[str, Any]) -> bool:
    """Built from this repository's Dockerfile."""
    return "build" in service


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    assert lines, f"no {name} in the Dockerfile"
    value: list[str] = json.loads(lines[-1].removeprefix(name + " "))
    return value


def acl_rules(
    user: str, patterns: bool = True, acl: Path = MOSQUITTO_DIR / "acl"
) -> list[tuple[str, str]]:
    """(access, topic filter) that Mosquitto's acl_file `acl` grants `user`: the patterns, with
    %u replaced (unless `patterns` is false), and the `topic` lines of the user's own section."""
    rules, section = [], None
    for raw in acl.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user":
            section = words[1]
        elif words[0] in ("topic", "pattern"):
            access, topic = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            if words[0] == "pattern" and patterns:
                rules.append((access, topic.replace("%u", user)))
            elif section == user:
                rules.append((access, topic))
        else:
            raise AssertionError(f"unexpected ACL line {raw!r}")
    return rules


# -- the NATS cluster's users (deploy/nats/init-auth) -----------------------------------------


def nats_init_auth(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy/nats/init-auth, as the nats-auth service runs it."""
    return subprocess.run(
        ["sh", str(NATS_DIR / "init-auth")],
        env={"PATH": os.environ["PATH"], "NATS_AUTH_DIR": str(directory), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def nats_users(directory: Path) -> dict[str, dict[str, Any]]:
    """The users init-auth wrote into `directory`, by name: password and permissions."""
    text = (directory / "accounts.conf").read_text()
    document = json.loads("".join(line for line in text.splitlines() if not line.startswith("#")))
    (account,) = document["accounts"].values()
    assert account["jetstream"] == "enabled", "MQTT needs JetStream in the users' account"
    return {user["user"]: user for user in account["users"]}


def subject_of_topic(topic: str) -> str:
    """NATS's MQTT listener carries a topic as this subject."""
    return topic.replace("/", ".")


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more at the end."""
    parts, tokens = pattern.split("."), subject.split(".")
    for i, part in enumerate(parts):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or (part != "*" and part != tokens[i]):
            return False
    return len(parts) == len(tokens)


def nats_allowed(user: dict[str, Any], access: str, subject: str) -> bool:
    """Whether NATS lets `user` publish or subscribe (`access`) on `subject`."""
    rules = user["permissions"].get(access, {})
    allowed = any(subject_matches(p, subject) for p in rules.get("allow", [">"]))
    return allowed and not any(subject_matches(p, subject) for p in rules.get("deny", []))
