"""The table of backends: every type of every family loads and has its family's protocol; a
class that lacks a member is refused by name; type names are checked wherever they are set."""

from typing import ClassVar, Protocol

import pytest

from sparrow import plugins
from sparrow.config import FeatureSettings, StoreSettings, load_settings, with_overrides
from sparrow.errors import ConfigError
from sparrow.plugins import BACKENDS, Family, load_backend, members, resolve

TYPES = [(family, kind) for family, found in BACKENDS.items() for kind in found.types]


@pytest.mark.parametrize(("family", "kind"), TYPES, ids=[f"{f}-{k}" for f, k in TYPES])
def test_every_backend_loads_and_fits_its_protocol(family: str, kind: str) -> None:
    cls = load_backend(family, kind)
    assert isinstance(cls, type) and cls.__name__ == BACKENDS[family].types[kind].split(":")[1]


class Greeter(Protocol):
    """A family's protocol, for the checker's own test."""

    language: ClassVar[str]

    def greet(self, name: str) -> str: ...


class English:
    language: ClassVar[str] = "en"

    def greet(self, name: str) -> str:
        return f"hello {name}"


class Mute:
    language: ClassVar[str] = "none"


def test_a_class_without_a_protocol_member_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    here = f"{__name__}:"
    family = Family(here + "Greeter", {"en": here + "English", "mute": here + "Mute"})
    monkeypatch.setitem(plugins.BACKENDS, "greeter", family)
    assert members(Greeter) == ["language", "greet"]
    assert load_backend("greeter", "en")().greet("you") == "hello you"
    with pytest.raises(TypeError, match="lacks greet"):
        load_backend("greeter", "mute")


def test_aliases_and_unknown_types_say_the_same_everywhere() -> None:
    assert resolve("engine", "embedded") == "duckdb"
    assert with_overrides(FeatureSettings(), engine="embedded").engine == "duckdb"
    message = "unknown engine 'dask'; choose one of: duckdb, spark, embedded"
    with pytest.raises(ConfigError) as from_option:
        with_overrides(FeatureSettings(), engine="dask")
    with pytest.raises(ConfigError) as from_table:
        load_backend("engine", "dask")
    assert str(from_option.value) == str(from_table.value) == message
    with pytest.raises(ConfigError, match="unknown store 'mongo'; choose one of: memory, redis"):
        StoreSettings(type="mongo")


def test_unknown_keys_of_a_section_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARROW_SERVING__REDIS_PREFIX", "old")  # moved to [store] prefix
    with pytest.raises(ConfigError, match=r"serving\.redis_prefix"):
        load_settings()
    monkeypatch.delenv("SPARROW_SERVING__REDIS_PREFIX")
    monkeypatch.setenv("SPARROW_STORE__PREFIX", "new")
    assert load_settings().store.prefix == "new"
