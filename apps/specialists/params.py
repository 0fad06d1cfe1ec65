"""The hyper-parameters of a training run: names, types, defaults and bounds, read from the jobs' own
config dataclasses (plain, torch-free modules of workers/), checked and filled in at creation."""

from dataclasses import MISSING, dataclass, fields
from typing import Any

from apps.common.errors import DomainError
from apps.specialists.catalog import memory_estimate
from apps.specialists.models import SpecialistKind
from workers.jobs.classifier import ClassifierConfig
from workers.jobs.training.config import LoraConfig


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type
    default: Any
    label: str
    help: str
    form: bool
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


def param_specs(kind: str) -> list[ParamSpec]:
    """The parameters of a run of this kind: name, type, default and bounds, from the job's config."""
    config = ClassifierConfig if kind == SpecialistKind.CLASSIFIER else LoraConfig
    specs = []
    for f in fields(config):
        meta = f.metadata
        default = f.default if f.default is not MISSING else None
        specs.append(
            ParamSpec(
                name=f.name,
                type=type(default),
                default=default,
                label=meta.get("label", f.name),
                help=meta.get("help", ""),
                form=meta.get("form", True),
                minimum=meta.get("min"),
                maximum=meta.get("max"),
                choices=tuple(meta.get("choices", ())),
            )
        )
    return specs


def _invalid(name: str, message: str) -> DomainError:
    return DomainError(message, code="invalid", status=422, field=f"params.{name}")


def _coerce(spec: ParamSpec, value: Any) -> Any:
    if spec.type is bool:
        if not isinstance(value, bool):
            raise _invalid(spec.name, f"'{spec.name}' must be true or false")
        return value
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise _invalid(spec.name, f"'{spec.name}' must be a whole number")
        value = int(value)
    elif spec.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(spec.name, f"'{spec.name}' must be a number")
        value = float(value)
    elif spec.choices:
        if value not in spec.choices:
            raise _invalid(spec.name, f"'{spec.name}' must be one of {', '.join(spec.choices)}")
        return value
    if spec.minimum is not None and value < spec.minimum:
        raise _invalid(spec.name, f"'{spec.name}' must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise _invalid(spec.name, f"'{spec.name}' must be at most {spec.maximum:g}")
    return value


def training_params(*, kind: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of the kind, the defaults replaced by `overrides`. An unknown name or a value
    of the wrong type or out of bounds is a 422 naming it."""
    specs = {spec.name: spec for spec in param_specs(kind)}
    params = {name: spec.default for name, spec in specs.items()}
    for name, value in (overrides or {}).items():
        if name not in specs:
            raise _invalid(name, f"Unknown training parameter '{name}'; known: {', '.join(specs)}")
        params[name] = _coerce(specs[name], value)
    return params


def memory_estimate_mb(*, params_b: float, params: dict[str, Any]) -> int:
    """GPU memory a LoRA run needs to start (see apps.specialists.catalog for the formula)."""
    estimate = memory_estimate(params_b, seq_len=params["max_seq_len"], batch_size=params["batch_size"])
    return estimate.train_qlora_mb if params.get("method") == "qlora" else estimate.train_lora_mb
