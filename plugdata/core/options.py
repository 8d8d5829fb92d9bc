"""Command options declared once, on pydantic models.

A command's flags, types, choices, defaults and help are derived from its model's fields (as TRL
derives its CLI from one dataclass), and the model alone validates the values, so the command
line and the Python API can never accept different things. A refused value is one line naming
the flag, the way recipe errors name their key.

Per-field command-line details ride on the field's `json_schema_extra`: `flag` (when the flag is
not the field name), `metavar`, `path` (`"file"` or `"dir"`), `exists`, `hidden` (a tunable left
out of `--help`) and `argument` (a positional argument rather than a flag, named by its
metavar). A `list[...]` field is a repeatable flag, or an argument that takes one value or more.
`missing: "model"` leaves a required value's absence to the model, whose validator can say more
than click's "Missing option" (it is still marked required in the help).
`io` declares what the command does with a path (read, write, ...), checked by
`plugdata.core.outputs.refuse_overwrite_of` when the options are parsed.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import click
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from plugdata.core.outputs import Role, local_path, refuse_overwrite
from plugdata.errors import PlugdataError

M = TypeVar("M", bound=BaseModel)

# Options that mean the same in several commands, declared once.
# (Defaults go where they are used: pydantic refuses them inside `Annotated`.)
Quiet = Annotated[bool, Field(description="No progress bars.")]
MaxCost = Annotated[
    float | None,
    Field(
        ge=0,
        description="Stop cleanly before the estimated spend passes this.",
        json_schema_extra={"metavar": "USD"},
    ),
]

TranslationCache = Annotated[
    Path | None,
    Field(
        description="Translation cache file (default: translations.sqlite in "
        "$PLUGDATA_CACHE_DIR, $XDG_CACHE_HOME/plugdata or ~/.cache/plugdata).",
        json_schema_extra={
            "flag": "--cache",
            "path": "file",
            "io": "update",
            "role": "the cache",
        },
    ),
]


class OptionsError(PlugdataError):
    """An option value the command's model refused."""


def flag_of(name: str, field: FieldInfo) -> str:
    """`--learning-rate` for `learning_rate`, unless the field names its own flag; an argument's
    metavar (`RECIPE`)."""
    if _extra(field).get("argument"):
        return _extra(field).get("metavar") or name.upper()
    return _extra(field).get("flag") or "--" + name.replace("_", "-")


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _unwrap(annotation: Any) -> Any:
    """`int | None` -> `int`; other annotations as they are."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _repeated(field: FieldInfo) -> bool:
    return typing.get_origin(_unwrap(field.annotation)) is list


def _click_type(field: FieldInfo) -> Any:
    kind = _unwrap(field.annotation)
    if _repeated(field):
        (kind,) = typing.get_args(kind)
    if typing.get_origin(kind) is Literal:
        return click.Choice([str(c) for c in typing.get_args(kind)])
    if kind is Path:
        path = _extra(field).get("path")
        return click.Path(
            file_okay=path != "dir",
            dir_okay=path != "file",
            exists=bool(_extra(field).get("exists")),
            path_type=Path,
        )
    return {int: click.INT, float: click.FLOAT}.get(kind, click.STRING)


_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "<="),
)


def _range_note(field: FieldInfo) -> str:
    """The field's bounds as help text, e.g. `[x>0]`; the model enforces them."""
    parts = []
    for item in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"x{sign}{getattr(item, attr):g}")
    return f"  [{', '.join(parts)}]" if parts else ""


class _ModelSaysMissing(click.Option):
    """A required option whose absence the model's validator explains (e.g. with the dataset's
    configs), where click would only say "Missing option": it reaches the model as None."""

    def value_is_missing(self, value: Any) -> bool:
        return False


def click_option(name: str, field: FieldInfo, **extra: Any) -> Callable:
    """The click option (or argument) for one model field (`extra`: more click settings)."""
    if _extra(field).get("argument"):
        return click.argument(
            name,
            type=_click_type(field),
            nargs=-1 if _repeated(field) else 1,
            required=field.is_required(),
            metavar=flag_of(name, field),
            **extra,
        )
    description = (field.description or "").strip()
    help_text = description + _range_note(field)
    if _unwrap(field.annotation) is bool:
        on = field.default is True
        flag = flag_of(name, field)
        declared = f"{flag}/--no-{flag.removeprefix('--')}" if on else flag
        # A flag that is on unless turned off says so; one that is off goes without saying.
        return click.option(
            declared, name, is_flag=True, default=on, show_default=on, help=help_text, **extra
        )
    required = field.is_required()
    if required and _extra(field).get("missing") == "model":
        extra = {"cls": _ModelSaysMissing, **extra}
    elif not required:  # a required option has no default: click would take None for a value
        extra = {"default": field.get_default(call_default_factory=True), **extra}
        extra.setdefault("show_default", extra["default"] not in (None, []))
    return click.option(
        flag_of(name, field),
        name,
        type=_click_type(field),
        multiple=_repeated(field),
        required=required,
        metavar=_extra(field).get("metavar"),
        help=help_text,
        hidden=bool(_extra(field).get("hidden")),
        **extra,
    )


def click_options(model: type[BaseModel]) -> Callable[[Callable], Callable]:
    """A decorator adding one option per field of `model`, listed in declaration order."""

    def decorate(command: Callable) -> Callable:
        for name, field in reversed(model.model_fields.items()):
            command = click_option(name, field)(command)
        # Which models a command's options come from, for checks of its help (`options_of`).
        command.__plugdata_models__ = (model, *getattr(command, "__plugdata_models__", ()))
        return command

    return decorate


def options_of(command: click.Command) -> dict[str, FieldInfo]:
    """The model fields behind a command's options, by parameter name (none for a command
    whose options are not declared by a model)."""
    models = getattr(command.callback, "__plugdata_models__", ())
    return {name: field for model in models for name, field in model.model_fields.items()}


def parse_options(model: type[M], values: dict[str, Any]) -> M:
    """Validate command values into `model`; a refused value is one line naming its flag."""
    try:
        options = model.model_validate(values)
    except ValidationError as err:
        raise OptionsError(format_errors(model, err)) from None
    # Here, for every command at once: no output may overwrite an input, before any work.
    refuse_overwrite_of(options)
    return options


def parse_all(values: dict[str, Any], *models: type[BaseModel]) -> tuple[Any, ...]:
    """A command's values split among the models that declare its options (e.g. what a build
    makes, and how it runs), each validated as `parse_options` does."""
    return tuple(
        parse_options(model, {k: v for k, v in values.items() if k in model.model_fields})
        for model in models
    )


def _message(error: Any) -> str:
    return error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")


def format_errors(model: type[BaseModel], err: ValidationError) -> str:
    """`--epochs 0: must be greater than 0`, one clause per refused value."""
    parts = []
    for e in err.errors():
        loc = e["loc"]
        if not loc:  # the model's own check of several values: its message names them
            parts.append(_message(e))
            continue
        field = model.model_fields.get(str(loc[0]))
        if e["type"] == "extra_forbidden":  # from Python: a keyword the model does not have
            parts.append(_unknown(model, str(loc[0])))
            continue
        where = flag_of(str(loc[0]), field) if field is not None else "options"
        given = e.get("input")
        if e["type"] == "missing" or (given is None and e["type"].endswith("_type")):
            # Not "--config None: must be a valid string"; a validator's own word stays.
            said = e["msg"] if e["type"] == "missing" and e["msg"] != "Field required" else ""
            parts.append(f"{where}: {said or 'required'}")
            continue
        # A repeated flag's message names the value it refuses; all of them would be noise.
        value = "" if given is None or isinstance(given, (list, tuple)) else f" {given!r}"
        parts.append(f"{where}{value}: {_message(e)}")
    return "; ".join(parts)


def _unknown(model: type[BaseModel], name: str) -> str:
    flags = {flag_of(n, f): n for n, f in model.model_fields.items()}
    flag = "--" + name.replace("_", "-")
    close = difflib.get_close_matches(flag, flags, n=1)
    return f"{flag}: unknown option" + (f" (did you mean {close[0]}?)" if close else "")


def refuse_overwrite_of(options: Any) -> None:
    """`refuse_overwrite` for the roles an options model declares (see the module doc)."""
    reads, writes, owned = declared_roles(options)
    if writes or owned:
        refuse_overwrite(reads, writes, owned)


def declared_roles(options: Any) -> tuple[list[Role], list[Role], list[Role]]:
    """The files an options model's values read, write and own, each named by its role or flag."""
    reads: list[Role] = []
    writes: list[Role] = []
    owned: list[Role] = []
    for name, field in type(options).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        io = extra.get("io")
        if io is None:
            continue
        value = getattr(options, name, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        flag = extra.get("role") or flag_of(name, field)
        files = extra.get("files") or ()
        for item in values:
            path = local_path(item)
            if path is None:
                continue
            if io == "read":
                inside = [path / f for f in files] if files and path.is_dir() else [path]
                reads += [(flag, p) for p in inside]
            elif io == "own":
                owned.append((flag, path))
            elif io == "update":
                role = (flag, path)  # the same tuple in both lists: see `refuse_overwrite`
                reads.append(role)
                writes.append(role)
            elif files:
                writes += [(f"{flag}'s {f}", path / f) for f in files]
            else:
                writes.append((flag, path))
                beside = extra.get("beside") or ()
                writes += [(f"{flag}'s {s} beside it", path.with_suffix(s)) for s in beside]
    return reads, writes, owned
