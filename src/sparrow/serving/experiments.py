"""A/B experiments in layers: each layer splits all users among its variants, independently.

A user's bucket is a salted blake2b hash of the user id (never Python's `hash()`): the same in
every process and machine, and independent across layers (each has its own salt). The file
format and the bucket arithmetic are in docs/experiments.md.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sparrow.errors import ConfigError

BUCKETS = 10_000  # buckets per layer; one percent of weight is 100 buckets
HEADER = "X-Sparrow-Experiments"  # the response header carrying `header(assignment)`
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")  # names must not contain the header's "," and "="


@dataclass(frozen=True)
class Variant:
    """One arm of a layer: an optional ranking model and recall channel sizes (channel -> size)."""

    name: str
    model: str | None = None
    recall: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Layer:
    """Users split among `variants`, given as (variant, weight in percent; weights sum to 100)."""

    name: str
    salt: str
    variants: tuple[tuple[Variant, int], ...]
    hashing: Literal["blake2b", "java"] = "blake2b"

    def __post_init__(self) -> None:
        """Refuse a layer that cannot split users exactly."""
        where = f"layer {self.name!r}"
        if not _NAME.fullmatch(self.name):
            raise ConfigError(f"{where}: a name is letters, digits, '_', '.' or '-'")
        if not self.variants:
            raise ConfigError(f"{where}: needs at least one variant")
        names = [v.name for v, _ in self.variants]
        if bad := [n for n in names if not _NAME.fullmatch(n)]:
            raise ConfigError(f"{where}: bad variant name(s) {bad} (letters, digits, _ . -)")
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: variant names must be unique, got {names}")
        weights = [w for _, w in self.variants]
        if any(type(w) is not int or w <= 0 for w in weights):
            raise ConfigError(f"{where}: weights must be positive integers, got {weights}")
        if sum(weights) != 100:
            raise ConfigError(f"{where}: weights must sum to 100 (percent), got {sum(weights)}")
        if self.hashing not in ("blake2b", "java"):
            raise ConfigError(f"{where}: hash must be 'blake2b' or 'java', got {self.hashing!r}")

    def bucket(self, user_id: int) -> int:
        """The user's bucket in [0, 10000), or -1 (last variant) for a negative Java remainder."""
        if self.hashing == "java":
            unit = math.gcd(*(w for _, w in self.variants))  # percent per slot; slots = 100 / unit
            h = java_string_hash(str(user_id))
            slot = abs(h) % (100 // unit)  # Java's % keeps the dividend's sign: -7 % 5 == -2
            return -1 if h < 0 and slot else slot * unit * (BUCKETS // 100)
        digest = hashlib.blake2b(f"{self.salt}:{user_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % BUCKETS

    def assign(self, user_id: int) -> Variant:
        """The user's variant: contiguous bucket ranges per variant, in declaration order."""
        bucket = self.bucket(user_id)
        end = 0
        for variant, weight in self.variants:
            end += weight * (BUCKETS // 100)
            if 0 <= bucket < end:
                return variant
        return self.variants[-1][0]


class Experiments:
    """All layers of an experiments file; `assign` gives a user's variant in every layer."""

    def __init__(self, layers: tuple[Layer, ...] = ()) -> None:
        self.layers = layers

    @classmethod
    def load(cls, path: Path | None) -> Experiments:
        """Read and validate a TOML experiments file; None means no experiments."""
        if path is None:
            return cls()
        try:
            with Path(path).open("rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read experiments file: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML: {e}") from None
        try:
            return cls(_parse(data))
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def assign(self, user_id: int) -> dict[str, Variant]:
        """Layer name -> the user's variant in that layer, in file order."""
        return {layer.name: layer.assign(user_id) for layer in self.layers}

    @staticmethod
    def header(assignment: dict[str, Variant]) -> str:
        """The same as the module's `header`."""
        return header(assignment)


def header(assignment: dict[str, Variant]) -> str:
    """'layer=variant,layer2=variant2' for the X-Sparrow-Experiments response header."""
    return ",".join(f"{layer}={variant.name}" for layer, variant in assignment.items())


def ranking_model(assignment: dict[str, Variant]) -> str | None:
    """The model of the first layer (file order) whose variant sets one; None when none does."""
    return next((v.model for v in assignment.values() if v.model is not None), None)


def recall_sizes(assignment: dict[str, Variant]) -> dict[str, int]:
    """Recall channel sizes set by the variants; the first layer setting a channel wins."""
    sizes: dict[str, int] = {}
    for variant in assignment.values():
        for channel, size in variant.recall.items():
            sizes.setdefault(channel, size)
    return sizes


def java_string_hash(s: str) -> int:
    """Java's String.hashCode(): h = 31*h + UTF-16 code unit, as a signed 32-bit int."""
    data = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _parse(data: dict[str, Any]) -> tuple[Layer, ...]:
    """Layers from a parsed TOML document, checking every key and type."""
    _known(data, {"layer"}, "top level")
    raw_layers = data.get("layer", [])
    if not isinstance(raw_layers, list):
        raise ConfigError("'layer' must be an array of tables [[layer]]")
    layers: list[Layer] = []
    for i, raw in enumerate(raw_layers, 1):
        name = _str(raw, "name", f"layer #{i}")
        where = f"layer {name!r}"
        _known(raw, {"name", "salt", "hash", "variant"}, where)
        arms = raw.get("variant", [])
        if not isinstance(arms, list):
            raise ConfigError(f"{where}: 'variant' must be an array of tables [[layer.variant]]")
        variants = tuple(_variant(v, f"{where} variant #{j}") for j, v in enumerate(arms, 1))
        salt = _str(raw, "salt", where) if "salt" in raw else name
        layers.append(Layer(name, salt, variants, raw.get("hash", "blake2b")))
    salts = [x.salt for x in layers]
    for what, values in (("names", [x.name for x in layers]), ("salts (default: name)", salts)):
        if len(set(values)) != len(values):
            raise ConfigError(f"layer {what} must be unique, got {values}")
    if sum(layer.hashing == "java" for layer in layers) > 1:
        raise ConfigError("at most one layer may use hash = 'java' (java layers are unsalted)")
    return tuple(layers)


def _variant(raw: Any, where: str) -> tuple[Variant, int]:
    """One [[layer.variant]] table -> (variant, weight)."""
    name = _str(raw, "name", where)
    where = f"{where} ({name!r})"
    _known(raw, {"name", "model", "weight", "recall"}, where)
    model = _str(raw, "model", where) if "model" in raw else None
    recall = raw.get("recall", {})
    if not isinstance(recall, dict) or any(type(n) is not int or n < 0 for n in recall.values()):
        raise ConfigError(f"{where}: recall must be a table of channel = non-negative integer")
    if "weight" not in raw:
        raise ConfigError(f"{where}: missing 'weight' (percent)")
    return Variant(name, model, dict(recall)), raw["weight"]


def _str(raw: Any, key: str, where: str) -> str:
    """A required non-empty string value."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return value


def _known(raw: dict[str, Any], keys: set[str], where: str) -> None:
    """Refuse unknown keys (a misspelt 'weigth' must not pass silently)."""
    if unknown := sorted(set(raw) - keys):
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(keys)}")
