"""What an engine is asked to build, and how it reports progress."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sparrow.features.definitions import Definitions


@dataclass(frozen=True)
class BuildSpec:
    """Every parameter of a feature build; its digest identifies the build's content."""

    split: Literal["time", "random"] = "time"
    test_fraction: float = 0.2
    sample: float = 1.0  # fraction of samples kept, chosen by a seeded hash of (user, movie)
    seed: int = 42
    until: int | None = None  # ignore every rating and tag after this Unix time
    definitions: Definitions = field(default_factory=Definitions)


class Progress(Protocol):
    """Reports long steps; `task` yields a function that advances the step by n rows."""

    def task(self, name: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


@dataclass(frozen=True)
class BuildResult:
    """What an engine reports back: row counts of what it wrote and the build's time facts."""

    dataset: str  # the dataset folder's name
    layout: str  # its MovieLens layout
    rows: dict[str, int]
    as_of: int  # the build's clock: the last timestamp features may see
    cutoff: int | None  # time split: first timestamp of the test period
    genres: list[str]
