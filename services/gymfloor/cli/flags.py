"""The flags several commands share, and the one way a flag overrides a setting.

A flag that stands for a setting is declared with `setting_flag`, naming the setting by its path
(`api.port`, `detector.liftoff_ratio`). `with_flags` lays the flags given over the environment's
settings and validates the result as a whole, as the environment's values are validated, before
any command runs: an invalid value is refused before anything is created.

Importing this module does not import the settings (pydantic-settings and every component's):
`gymfloor analyze` reads its few without them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from gymfloor.cli.common import UsageError
from gymfloor.contract import ID_PATTERN
from gymfloor.detector.config import DetectorConfig
from gymfloor.settings_names import SHOWN_DEFAULT, env_var

if TYPE_CHECKING:
    from collections.abc import Callable

    from gymfloor.settings import Settings

S = TypeVar("S")

SETTING = "setting:"
"""Prefix of the argparse destination of a flag that stands for a setting; its path follows."""


def setting_flag(
    group: argparse._ActionsContainer,
    flag: str,
    setting: str,
    help: str,
    default: str | None = None,
    **kwargs: Any,
) -> None:
    """`flag` overrides the setting at path `setting`. Its help ends with the setting's
    environment variable and its default: the settings' own, looked up only when the help is
    shown, or `default` for a command that does without the setting when it is not given."""
    group.add_argument(
        flag,
        dest=SETTING + setting,
        metavar=kwargs.pop("metavar", flag.lstrip("-").replace("-", "_").upper()),
        # argparse fills a help's %(name)s from the action's attributes.
        help=f"{help} (env {env_var(setting)}; default: %(shown_default)s)",
        action=_SettingAction,
        shown_default=default or _SettingDefault(setting),
        **kwargs,
    )


class _SettingAction(argparse._StoreAction):
    """A flag that stands for a setting; `shown_default` is its default as its help shows it."""

    def __init__(self, *args: Any, shown_default: object, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown_default = shown_default


class _SettingDefault:
    """A setting's default as the help shows it, read from the settings when it is shown:
    reading them imports every component's settings, which most runs do not need."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def __str__(self) -> str:
        from gymfloor.settings import Settings

        model: type[BaseModel] = Settings
        *sections, name = self.setting.split(".")
        for section in sections:
            model = model.model_fields[section].annotation  # type: ignore[assignment]
        field = model.model_fields[name]
        extra = field.json_schema_extra
        if isinstance(extra, dict) and SHOWN_DEFAULT in extra:
            return str(extra[SHOWN_DEFAULT])
        value = field.get_default(call_default_factory=True)
        return "none" if value is None else str(value)


def read_settings(overrides: dict[str, Any]) -> Settings:
    """Every setting: the environment's (GYMFLOOR_*), `overrides` laid over them.

    Raises pydantic.ValidationError if the result is invalid."""
    from gymfloor.settings import Settings

    # pydantic-settings merges arguments over the environment, section by section.
    return Settings(**overrides)


@overload
def with_flags(settings: Settings, args: argparse.Namespace) -> Settings: ...
@overload
def with_flags(settings: S, args: argparse.Namespace, read: Callable[[dict[str, Any]], S]) -> S: ...
def with_flags(
    settings: Any, args: argparse.Namespace, read: Callable[[dict[str, Any]], Any] = read_settings
) -> Any:
    """The settings with the setting flags given on the command line applied, read again by
    `read` (which `settings` came from: by default every setting).

    Raises pydantic.ValidationError if the result is invalid."""
    overrides = setting_overrides(args)
    return read(overrides) if overrides else settings


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The setting flags given, by section: {"detector": {"liftoff_ratio": 0.4}, ...}."""
    overrides: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if dest.startswith(SETTING) and value is not None:
            *sections, name = dest.removeprefix(SETTING).split(".")
            target = overrides
            for section in sections:
                target = target.setdefault(section, {})
            target[name] = value
    return overrides


def add_mqtt_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("broker", "credentials and TLS files: GYMFLOOR_MQTT_*")
    setting_flag(group, "--mqtt-url", "mqtt_url", "mqtt://host:port or mqtts://host:port")


def add_nats_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "partitioned ingest on NATS JetStream",
        "with a NATS URL, this process is one of any number of workers sharing the stream's "
        "partitions, instead of reading the MQTT broker; credentials: GYMFLOOR_NATS_USER and "
        "GYMFLOOR_NATS_PASSWORD; docs/SCALING.md",
    )
    setting_flag(group, "--nats-url", "nats_url", "nats://host:port[,nats://host:port…]")
    setting_flag(
        group,
        "--nats-partitions",
        "nats_partitions",
        "partitions of the stream, fixed once it exists",
        type=int,
    )
    setting_flag(
        group,
        "--nats-replicas",
        "nats_replicas",
        "copies of the stream and checkpoints, 3 on a 3-node cluster",
        type=int,
    )


def add_store_flags(
    command: argparse.ArgumentParser, db: bool = True, data_dir_default: str | None = None
) -> None:
    """--data-dir (and --db-url); `data_dir_default` for a command that uses a directory of its
    own when none is given."""
    group = command.add_argument_group("storage")
    setting_flag(group, "--data-dir", "data_dir", "state directory", data_dir_default, type=Path)
    if db:
        setting_flag(group, "--db-url", "db_url", "store URL, e.g. sqlite:///path/gymfloor.db")


def add_detector_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "detector thresholds",
        "docs/CONTRACT.md section 4 lists them; docs/DETECTION.md explains each",
    )
    for name, field in DetectorConfig.model_fields.items():
        setting_flag(
            group,
            f"--{name.replace('_', '-')}",
            f"detector.{name}",
            field.description or name,
            type=float,
            metavar="X",
        )


def add_simulation_flags(command: argparse.ArgumentParser, machines: int, visits: int) -> None:
    command.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    command.add_argument(
        "--machines", type=int, default=machines, help="leg presses (default: %(default)s)"
    )
    command.add_argument(
        "--visits", type=int, default=visits, help="visits per machine (default: %(default)s)"
    )
    add_members_flag(command)


def add_members_flag(command: argparse.ArgumentParser, default: int = 0) -> None:
    zero = "; 0" if default else ","
    command.add_argument(
        "--members",
        type=int,
        default=default,
        help=f"recurring members m-0001…, who come back visit after visit (default: {default}"
        f"{zero} every visit by a new member)",
    )


def identifier(value: str) -> str:
    """An argument type: a member's (or machine's, gym's) id."""
    if not ID_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an id: 1-64 of A-Z a-z 0-9 _ -")
    return value


STDIN = Path("-")
"""A recording argument that reads stdin."""


def check_recording(path: Path) -> None:
    """Raise a UsageError saying why the recording at `path` cannot be read, if it cannot.
    Called by the command rather than as the argument's type, which argparse would check
    before it reports a flag the command does not know."""
    if path == STDIN:
        return
    try:
        with path.open("rb"):
            return
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "is a directory, not a recording file"
    except PermissionError:
        problem = "cannot be read: permission denied"
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror}"
    raise UsageError(f"{path}: {problem}")
