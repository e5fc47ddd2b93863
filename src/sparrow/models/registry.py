"""The one table of ranking models: {name: "module:Class"}, imported only when chosen.

Each model's config class is its class name + "Config" in the same module (EmbeddingMLP ->
EmbeddingMLPConfig), a frozen dataclass; `create` builds it from its defaults and overrides.
"""

import dataclasses
import importlib
from typing import Any

from torch import nn

from sparrow.artifacts.inputs import FeatureSpec
from sparrow.errors import ConfigError

MODELS: dict[str, str] = {
    "emb_mlp": "sparrow.models.emb_mlp:EmbeddingMLP",
    "wide_deep": "sparrow.models.wide_deep:WideDeep",
    "neumf": "sparrow.models.neural_cf:NeuMF",
    "two_tower": "sparrow.models.neural_cf:TwoTower",
    "pnn": "sparrow.models.pnn:PNN",
    "deepfm": "sparrow.models.deepfm:DeepFM",
    "din": "sparrow.models.din:DIN",
    "dien": "sparrow.models.dien:DIEN",
    "popularity": "sparrow.models.baselines:Popularity",
    "logistic": "sparrow.models.baselines:Logistic",
    "mf": "sparrow.models.baselines:MatrixFactorization",
}
BASELINES = ("popularity", "logistic", "mf")  # what the neural models are compared against
NEURAL = tuple(name for name in MODELS if name not in BASELINES)


def model_names() -> list[str]:
    """Every model name, in table order."""
    return list(MODELS)


def _load(name: str, suffix: str = "") -> Any:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls + suffix)


def model_class(name: str) -> type[nn.Module]:
    """The nn.Module class of model `name`."""
    cls: type[nn.Module] = _load(name)
    return cls


def config_class(name: str) -> type[Any]:
    """The frozen config dataclass of model `name`."""
    cls: type[Any] = _load(name, "Config")
    return cls


def _frozen(value: Any) -> Any:
    """Lists (from JSON, TOML or a command line) as tuples, so configs stay hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list | tuple) else value


def make_config(name: str, **overrides: Any) -> Any:
    """Model `name`'s config: its defaults, `overrides` replacing fields."""
    cls = config_class(name)
    fields = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        valid = ", ".join(fields) or "none"
        raise ConfigError(f"unknown option {', '.join(unknown)} for model {name!r}; valid: {valid}")
    return cls(**{key: _frozen(value) for key, value in overrides.items()})


def create(name: str, spec: FeatureSpec, **overrides: Any) -> nn.Module:
    """Model `name` for `spec`, its config from defaults and `overrides`."""
    return model_class(name)(spec, make_config(name, **overrides))
