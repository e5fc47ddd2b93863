"""Fetch a MovieLens archive: resumable, checksummed, unpacked atomically (`sparrow data fetch`)."""

import hashlib
import json
import re
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sparrow.atomic import atomic_dir
from sparrow.errors import ConfigError, DownloadError

KNOWN = ("ml-latest-small", "ml-latest", "ml-100k", "ml-1m", "ml-25m", "ml-32m")
MARKER = ".sparrow-fetch.json"  # written last into the dataset folder: it is complete
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
NETWORK_ERRORS = (httpx.HTTPError, httpx.InvalidURL)


def fetch(name: str, dest: Path, mirror: str, *, progress: bool = True) -> Path:
    """Download `{mirror}/{name}.zip`, verify it and unpack it into `dest/name` (returned).

    A folder holding the marker of an earlier fetch is returned without any request; an
    interrupted download is kept in `dest/.{name}.zip.part` and resumed by the next call.
    """
    if name not in KNOWN:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(KNOWN)}")
    target = dest / name
    if (target / MARKER).is_file():
        return target
    if target.exists():
        raise ConfigError(f"{target} exists but was not fetched by sparrow; move it away")
    url = f"{mirror.rstrip('/')}/{name}.zip"
    part = dest / f".{name}.zip.part"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        headers = {"Accept-Encoding": "identity"}  # sizes and ranges count the archive's bytes
        with httpx.Client(timeout=TIMEOUT, follow_redirects=True, headers=headers) as client:
            md5 = _published_md5(client, f"{url}.md5")
            total = _download(client, url, part, progress)
        try:
            digest = _verify(part, name, total, md5)
        except DownloadError:
            part.unlink()
            raise
        marker = {
            "name": name,
            "url": url,
            "size": part.stat().st_size,
            "md5": digest,
            "md5_published": md5 is not None,
        }
        _unpack(part, target, marker)
        part.unlink()
    except OSError as exc:
        raise DownloadError(f"cannot write {name} under {dest}: {exc.strerror or exc}") from exc
    return target


def _published_md5(client: httpx.Client, url: str) -> str | None:
    """The MD5 published beside the archive (`<hex>  NAME.zip`), or None when it is absent (404)."""
    try:
        resp = client.get(url)
    except NETWORK_ERRORS as exc:
        raise _network_error(url, exc) from exc
    if resp.status_code == 404:
        return None
    _check_status(url, resp)
    found = re.search(r"\b[0-9a-fA-F]{32}\b", resp.text)
    if found is None:
        raise DownloadError(f"{url} holds no md5 checksum")
    return found.group().lower()


def _download(client: httpx.Client, url: str, part: Path, progress: bool) -> int | None:
    """Stream `url` into `part`, resuming it with a Range request; return the archive's size."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with client.stream("GET", url, headers=headers) as resp:
            if resp.status_code != 416 or not have:
                return _save(url, resp, part, have, progress)
            if _content_range(resp)[1] == have:
                return have  # an earlier run got every byte
    except NETWORK_ERRORS as exc:
        raise _network_error(url, exc, part) from exc
    part.unlink()  # longer than the server's file: start over
    return _download(client, url, part, progress)


def _save(url: str, resp: httpx.Response, part: Path, have: int, progress: bool) -> int | None:
    """Write the body to `part`, appending on 206 and restarting on 200; return the full size."""
    _check_status(url, resp)
    if resp.status_code == 206:
        start, total = _content_range(resp)
        if start != have:
            raise DownloadError(f"{url}: server resumed at byte {start}, not {have}")
        mode = "ab"
    else:
        length = resp.headers.get("content-length", "")
        have, mode, total = 0, "wb", int(length) if length.isdigit() else None
    with part.open(mode) as out, _bar(progress) as bar:
        task = bar.add_task(part.name[1:-5], total=total, completed=have)
        for chunk in resp.iter_bytes():
            out.write(chunk)
            bar.advance(task, len(chunk))
    return total


def _content_range(resp: httpx.Response) -> tuple[int | None, int | None]:
    """(first byte, full size) from a Content-Range header (`bytes 10-99/100`, `bytes */100`)."""
    found = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+)", resp.headers.get("content-range", ""))
    if found is None:
        return None, None
    return (int(found[1]) if found[1] else None), int(found[2])


def _check_status(url: str, resp: httpx.Response) -> None:
    """Refuse any answer but 200 or 206."""
    if resp.status_code not in (200, 206):
        raise DownloadError(f"cannot download {url}: HTTP {resp.status_code} {resp.reason_phrase}")


def _network_error(url: str, exc: Exception, part: Path | None = None) -> DownloadError:
    """One line for a failed request; says so when a partial download is kept for resuming."""
    reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    size = part.stat().st_size if part is not None and part.exists() else 0
    resume = f"; {size} bytes kept, run again to resume" if size else ""
    return DownloadError(f"cannot download {url}: {reason}{resume}")


def _bar(enabled: bool) -> Progress:
    """A download progress bar on stderr: bytes, speed, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _verify(part: Path, name: str, total: int | None, md5: str | None) -> str:
    """Check the archive's size, MD5, zip integrity and member paths; return its MD5."""
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{name}.zip is truncated: {size} bytes, the server announced {total}")
    with part.open("rb") as f:
        digest = hashlib.file_digest(f, "md5").hexdigest()
    if md5 is not None and digest != md5:
        raise DownloadError(f"{name}.zip md5 mismatch: expected {md5}, got {digest}")
    try:
        with zipfile.ZipFile(part) as zf:
            names, bad = zf.namelist(), zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{name}.zip is not a valid zip archive: {exc}") from exc
    if bad is not None:
        raise DownloadError(f"{name}.zip is corrupt: member {bad} fails its CRC check")
    for member in names:
        path = PurePosixPath(member.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts:
            raise DownloadError(f"{name}.zip has an unsafe member path: {member}")
    if not any(m.startswith(f"{name}/") and not m.endswith("/") for m in names):
        raise DownloadError(f"{name}.zip has no files in a top folder {name}/")
    return digest


def _unpack(part: Path, target: Path, marker: dict[str, object]) -> None:
    """Extract the archive's top folder into `target` atomically, the marker file last."""
    prefix = f"{target.name}/"
    with zipfile.ZipFile(part) as zf, atomic_dir(target) as tmp:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            out = tmp / info.filename.removeprefix(prefix)
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
