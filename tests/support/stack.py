"""The production stack's files (docker-compose.yml, .env.example, the Dockerfile, the broker's
ACL), read as Docker and Mosquitto read them, for the tests of the files and of the stack run
for real."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a `$`.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")

# Machines with broker logins of their own, in the tests of the ACL.
MACHINE = "lp-07"
OTHER = "lp-08"


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value
    return values


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


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = COMPOSE.read_text()
    document: dict[str, Any] = yaml.safe_load(interpolate(text, env) if env is not None else text)
    return document


def is_ours(service: dict[str, Any]) -> bool:
    """Built from this repository's Dockerfile."""
    return "build" in service


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    assert lines, f"no {name} in the Dockerfile"
    value: list[str] = json.loads(lines[-1].removeprefix(name + " "))
    return value


def acl_rules(user: str, patterns: bool = True) -> list[tuple[str, str]]:
    """(access, topic filter) that Mosquitto's acl_file grants `user`: the patterns, with %u
    replaced (unless `patterns` is false), and the `topic` lines of the user's own section."""
    rules, section = [], None
    for raw in (MOSQUITTO_DIR / "acl").read_text().splitlines():
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
