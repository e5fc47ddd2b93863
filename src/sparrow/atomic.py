"""Write a folder so that it appears complete or not at all (temp folder, then rename)."""

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sparrow.errors import ConfigError


@contextmanager
def atomic_dir(dest: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; on success rename it to `dest`, on error delete it.

    With `overwrite`, an existing `dest` is replaced only after the new content is complete,
    so a failure never loses what was already there.
    """
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if dest.exists():
            if not overwrite:
                raise ConfigError(f"{dest} already exists; choose another path or replace it")
            old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old)
        else:
            tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
