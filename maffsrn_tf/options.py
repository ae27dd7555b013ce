"""Options objects: every option of a job written once, with its default, type, help, choices
and bounds.

``TrainConfig`` (``train``) and ``UpscaleOptions`` (``upscaler``) are dataclasses of
``option()`` fields. The command lines make their flags from the fields
(``cli.common.define_option_flags``); the library checks the values once, where the object
is made (``check_fields``), and the code inside trusts them.
"""

import dataclasses
import math
import numbers
import types
import typing

from maffsrn_tf.errors import MaffsrnError


def option(
    default, help, choices=None, lower=None, upper=None, name=None, flag=None, per=1, group=None
):
    """A dataclass field with its documentation and its checks.

    ``name``: the name users pass (a keyword argument, and the flag) where the field's own
    differs; errors say it. ``flag``: the flag's name where it differs again, its value
    times ``per`` being the field's (``--max_megapixels`` M is ``max_pixels`` M x 1e6).
    ``group``: the heading its flag is listed under in ``--help``.
    """
    meta = {"help": help, "choices": choices, "lower": lower, "upper": upper,
            "name": name, "flag": flag, "per": per, "group": group}  # fmt: skip
    return dataclasses.field(default=default, metadata=meta)


def public_name(field):
    """What users call a field: its keyword argument (and flag, unless it has its own)."""
    return field.metadata.get("name") or field.name


def flag_name(field):
    return field.metadata.get("flag") or public_name(field)


def value_type(field):
    """The field's type without ``None`` (``int | None`` -> ``int``); ``object`` if open."""
    kind = field.type
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = args[0] if len(args) == 1 else object
    return kind if isinstance(kind, type) else object


def _optional(field):
    kind = field.type
    union = isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union
    return union and type(None) in typing.get_args(kind)


def _type_ok(kind, value):
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return True


def check_fields(obj):
    """``MaffsrnError`` naming the first field of ``obj`` whose value is not of its type, not
    one of its choices, or outside its bounds (``None`` passes: it means "the default")."""
    for field in dataclasses.fields(obj):
        value, meta, name = getattr(obj, field.name), field.metadata, public_name(field)
        if "help" not in meta:
            continue
        kind = value_type(field)
        if value is None:  # "the default" where the type allows it, else a wrong type
            if kind is object or _optional(field):
                continue
            raise MaffsrnError(f"{name}=None is not of type {kind.__name__}")
        if not _type_ok(kind, value):
            raise MaffsrnError(f"{name}={value!r} is not of type {kind.__name__}")
        if kind is float and not math.isfinite(value):
            raise MaffsrnError(f"{name}={value!r} is not a finite number")
        if meta["choices"] is not None and value not in meta["choices"]:
            choices = ", ".join(map(str, (c for c in meta["choices"] if c != "")))
            raise MaffsrnError(f"{name}={value!r} is not one of {choices}")
        if meta["lower"] is not None and value < meta["lower"]:
            raise MaffsrnError(f"{name}={value!r} is below {meta['lower']}")
        if meta["upper"] is not None and value > meta["upper"]:
            raise MaffsrnError(f"{name}={value!r} is above {meta['upper']}")


def defaults(cls):
    """``{field: default}`` of an options class."""
    return {f.name: f.default for f in dataclasses.fields(cls)}
