"""Settings from MODELKEEPER_* variables and command-line flags, for any pydantic settings class.

A Helm chart sets environment variables and a person passes flags; both come from one
field list, so a setting exists in exactly one place: field `default_image` is
`MODELKEEPER_DEFAULT_IMAGE` and `--default-image`, and a flag wins over the variable.
(serving/settings.py does the same for the scoring server and can use this module.)
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ENV_PREFIX = "MODELKEEPER_"
SettingsT = TypeVar("SettingsT", bound=BaseModel)


class SettingsError(ValueError):
    """A setting with a bad value; the message names the variable and the flag."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_setting_flags(parser: argparse.ArgumentParser, settings: type[BaseModel]) -> None:
    """One flag per setting; unset flags are None so the environment and defaults show through."""
    for name, field in settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        parser.add_argument(
            flag_name(name),
            dest=name,
            default=None,
            metavar=name.rsplit("_", 1)[-1].upper(),
            help=f"{field.description} (env {env_name(name)}; default {default!r})",
        )


def load_settings(
    settings: type[SettingsT], environ: Mapping[str, str], flags: Mapping[str, Any]
) -> SettingsT:
    """Settings from the environment, overridden by the flags that were given."""
    values: dict[str, Any] = {}
    for name in settings.model_fields:
        if env_name(name) in environ:
            values[name] = environ[env_name(name)]
        if flags.get(name) is not None:
            values[name] = flags[name]
    try:
        return settings.model_validate(values)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False, include_input=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            where = f"{env_name(name)} / {flag_name(name)}" if name else "settings"
            problems.append(f"{where}: {problem['msg']}")
        raise SettingsError("; ".join(problems)) from None
