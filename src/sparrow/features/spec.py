"""What a batch engine is asked to build (`artifacts.layout.BuildSpec`), what it reports back,
and how it reports progress: the protocol of the `engine` family in `plugins.py`."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sparrow.artifacts.layout import BuildSpec


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


class Engine(Protocol):
    """A batch engine: made from the feature settings, it writes the catalogue, samples and
    online features of a dataset folder into a (temporary) build directory."""

    def build(self, data: Path, out: Path, spec: BuildSpec, progress: Progress) -> BuildResult:
        """Read `data`; write catalogue, samples and online features to `out`."""
        ...
