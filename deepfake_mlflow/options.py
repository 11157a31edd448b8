"""Command-line options generated from a config dataclass, and value checks.

The config of a stage, or of a domain package (train.config.TrainConfig), declares its
fields with option(); the checks below refuse a bad value in one line.

A config field is the one place of an option's default, help and accepted values: the
`deepfake-mlflow` subcommand and `mlflow run -P name=value` (passed through as
`--name value`) both end in the dataclass. A field without default is a positional
argument. Values are checked in the dataclass's __post_init__, so a bad value is refused
the same way from the CLI, from MLproject and from Python, before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

from .errors import UserInputError

MISSING = dataclasses.MISSING


def option(default: Any = MISSING, *, help: str = "", choices=None, parse: Callable | None = None,
           nargs: str | None = None, cli: bool = True, factory: Callable | None = None,
           shown: str | None = None):
    """A config field: its default, help and choices for the command line.
    cli=False keeps a field out of the command line (a Python-only knob, e.g. for tests);
    shown: what --help says of the default when the value alone would mislead."""
    metadata = {"help": help, "choices": choices, "parse": parse, "nargs": nargs, "cli": cli,
                "shown": shown}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --- parsing ---------------------------------------------------------------------------
def boolean(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def numbers(kind: type) -> Callable[[str], tuple]:
    def parse(value) -> tuple:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(kind(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {kind.__name__}, got {value!r}") from None
    return parse


def names(value) -> tuple:
    """A comma list of names, upper-cased: 'none,hf' -> ('NONE', 'HF')."""
    if isinstance(value, (tuple, list)):
        return tuple(str(v).strip().upper() for v in value)
    return tuple(v.strip().upper() for v in str(value).split(",") if v.strip())


def _typed(kind: Callable, name: str) -> Callable[[str], Any]:
    """An argparse type that leaves "" alone: an empty value keeps the field's default."""
    def parse(value: str):
        if value == "":
            return ""
        try:
            return kind(value)
        except (ValueError, argparse.ArgumentTypeError) as err:
            detail = str(err) if isinstance(err, argparse.ArgumentTypeError) else \
                f"expected {getattr(kind, '__name__', 'a value')}, got {value!r}"
            raise argparse.ArgumentTypeError(f"{name}: {detail}") from None
    return parse


def _kind(field: dataclasses.Field) -> Callable:
    if field.metadata.get("parse"):
        return field.metadata["parse"]
    if field.default is MISSING or field.default is None or field.metadata.get("nargs"):
        return str  # a positional, or each item of a list of them
    if isinstance(field.default, bool):
        return boolean
    return type(field.default)


def cli_fields(config: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config) if f.metadata.get("cli", True)]


class HelpFormatter(argparse.HelpFormatter):
    """--help as a person reads it: a switch shows as `--probe`, not `--probe [PROBE]`
    (it still takes `--probe true`, the form MLproject passes); a description is wrapped,
    examples (text of several lines) keep their lines."""

    def _fill_text(self, text, width, indent):
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _format_args(self, action, default_metavar):
        if getattr(action, "switch", False):
            return ""
        return super()._format_args(action, default_metavar)

    def _format_action_invocation(self, action):
        if getattr(action, "switch", False):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)

    def _format_usage(self, usage, actions, groups, prefix):
        return super()._format_usage(usage, actions, groups, prefix).replace(" ]", "]")


def add_arguments(parser: argparse.ArgumentParser, config: type) -> None:
    """One argument per field: positional without a default (or with nargs), --name with
    one. --name_with_underscores, the form `mlflow run -P name=value` passes, is accepted
    too, but not shown: one spelling per option in --help."""
    for field in cli_fields(config):
        meta = field.metadata
        kind = _typed(_kind(field), field.name)
        extra = {"choices": meta.get("choices")} if meta.get("choices") else {}
        if (field.default is MISSING and field.default_factory is MISSING) or meta.get("nargs"):
            parser.add_argument(field.name, type=kind, nargs=meta.get("nargs"),
                                help=meta.get("help", ""), **extra)
            continue
        default = field.default if field.default is not MISSING else field.default_factory()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        switch = isinstance(field.default, bool)
        if switch:  # --probe, --probe true (MLproject), --no-probe
            extra.update(nargs="?", const=True)
            # the field's default on both (argparse keeps the first action's default: a
            # store_false alone would make every False default True)
            parser.add_argument("--no-" + field.name.replace("_", "-"), dest=field.name,
                                action="store_false", default=default, help=argparse.SUPPRESS)
            shown = "on" if default else ""
        shown = meta.get("shown") or shown
        note = f" (default: {shown})" if shown not in ("", ()) else ""
        action = parser.add_argument("--" + field.name.replace("_", "-"), dest=field.name,
                                     type=kind, default=default,
                                     help=meta.get("help", "") + note, **extra)
        action.switch = switch
        if "_" in field.name:
            parser.add_argument("--" + field.name, dest=field.name, type=kind,
                                default=argparse.SUPPRESS, help=argparse.SUPPRESS, **extra)


def from_arguments(config: type, args: argparse.Namespace):
    """The config of parsed arguments; empty values fall through to the defaults."""
    values = {f.name: getattr(args, f.name) for f in cli_fields(config)}
    if any(v == [] for v in values.values()):  # nargs="*" given nothing: the default
        values = {k: v for k, v in values.items() if v != []}
    return config(**{k: tuple(v) if isinstance(v, list) else v
                     for k, v in values.items() if v not in (None, "")})


# --- checks ------------------------------------------------------------------------------
def check_types(config) -> None:
    """Each field's value of the type its default has (a study file's YAML can hold
    anything): an integer option refuses true and 1.5, a float option refuses "fast", a list
    option a single value; refused with the option's name, never coerced."""
    import numbers
    for field in dataclasses.fields(config):
        default, value = field.default, getattr(config, field.name)
        if default is MISSING or default is None or value is None:
            continue
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = (isinstance(value, numbers.Integral)
                            and not isinstance(value, bool)), "an integer"
        elif isinstance(default, float):
            ok, expected = (isinstance(value, numbers.Real)
                            and not isinstance(value, bool)), "a number"
        elif isinstance(default, str):
            ok, expected = isinstance(value, str), "a string"
        elif isinstance(default, tuple):
            ok, expected = isinstance(value, tuple), "a list"
        else:
            continue
        require(ok, field.name, expected, value)


def require(condition: bool, name: str, expected: str, value) -> None:
    """Refuse a value with one line naming the option and what it accepts."""
    if not condition:
        raise UserInputError(f"--{name.replace('_', '-')} {value!r}: expected {expected}")


def at_least(config, low, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(value >= low, name, f"a number >= {low}", value)


def seed_range(config, *names: str) -> None:
    """Seeds from 0 to config.SEED_MAX (each value, for a tuple of seeds)."""
    from . import config as protocol
    for name in names:
        value = getattr(config, name)
        seeds = value if isinstance(value, (tuple, list)) else (value,)
        require(all(0 <= s <= protocol.SEED_MAX for s in seeds), name,
                f"seeds from 0 to {protocol.SEED_MAX}", value)


def positive(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(value > 0, name, "a number > 0", value)


def one_of(config, name: str, allowed) -> None:
    value = getattr(config, name)
    require(value in tuple(allowed), name, "one of " + ", ".join(map(str, allowed)), value)
