"""`sparrow.data.download.fetch` and `sparrow data fetch` against a real local HTTP mirror."""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sparrow.data.download import MARKER, fetch
from sparrow.errors import ConfigError, DownloadError

NAME = "ml-latest-small"
ARCHIVE = f"{NAME}.zip"
SPARROW = Path(sys.executable).parent / "sparrow"


@dataclass
class Mirror:
    """What the local server serves, how it misbehaves, and the requests it saw."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path -> forced error status
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, then hang up
    ranges: bool = True  # honour Range requests (206) or ignore them (200)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)

    def publish(self, archive: bytes, *, md5: str | None = None) -> None:
        """Serve `archive` as NAME.zip, with a GroupLens-style .md5 file when `md5` is given."""
        self.files[ARCHIVE] = archive
        if md5 is not None:
            self.files[f"{ARCHIVE}.md5"] = f"{md5}  {ARCHIVE}\n".encode()

    def archive_requests(self) -> list[str | None]:
        """The Range header of each request for the archive (None: no Range)."""
        return [rng for path, rng in self.requests if path == ARCHIVE]


class _Server(ThreadingHTTPServer):
    mirror: Mirror


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        mirror, path, rng = self.server.mirror, self.path.lstrip("/"), self.headers.get("Range")
        mirror.requests.append((path, rng))
        body = mirror.files.get(path)
        if path in mirror.status or body is None:
            self.send_error(mirror.status.get(path, 404))
            return
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and mirror.ranges else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if rng and mirror.ranges else 200)
        if rng and mirror.ranges:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = mirror.drop_after.pop(path, None)
        self.wfile.write(body[start:] if cut is None else body[start : start + cut])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    """A real HTTP server on 127.0.0.1 serving a `Mirror`."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.mirror = Mirror(url=f"http://127.0.0.1:{server.server_port}/")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server.mirror
    server.shutdown()
    server.server_close()


def make_zip(members: dict[str, str] | None = None) -> bytes:
    """A tiny archive in the MovieLens shape (`ml-latest-small/ratings.csv`, ...)."""
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{(u + m) % 5 + 1}.0,{964982703 + u * m}\n"
        for u in range(1, 30)
        for m in range(1, 30)
    )
    members = members or {
        f"{NAME}/ratings.csv": ratings,
        f"{NAME}/movies.csv": "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n",
        f"{NAME}/links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n",
        f"{NAME}/tags.csv": "userId,movieId,tag,timestamp\n1,1,pixar,1139045764\n",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{NAME}/", "")
        for member, text in members.items():
            zf.writestr(member, text)
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_fetch_unpacks_verifies_and_then_reuses(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive, md5=md5(archive))
    folder = fetch(NAME, tmp_path, mirror.url, progress=False)
    assert folder == tmp_path / NAME
    assert {p.name for p in folder.iterdir()} == {
        "ratings.csv",
        "movies.csv",
        "links.csv",
        "tags.csv",
        MARKER,
    }
    assert (folder / "movies.csv").read_text().startswith("movieId,title,genres")
    marker = json.loads((folder / MARKER).read_text())
    assert marker["md5"] == md5(archive) and marker["size"] == len(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no .part, no temp folder
    seen = len(mirror.requests)
    assert fetch(NAME, tmp_path, mirror.url.rstrip("/"), progress=False) == folder
    assert len(mirror.requests) == seen


def test_interrupted_download_resumes_with_range(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive, md5=md5(archive))
    mirror.drop_after[ARCHIVE] = len(archive) // 3
    with pytest.raises(DownloadError, match="run again to resume") as err:
        fetch(NAME, tmp_path, mirror.url.rstrip("/"), progress=False)
    assert f"{mirror.url}{ARCHIVE}" in str(err.value)
    part = tmp_path / f".{ARCHIVE}.part"
    assert not (tmp_path / NAME).exists()
    kept = part.stat().st_size
    assert 0 < kept < len(archive)
    assert fetch(NAME, tmp_path, mirror.url, progress=False).joinpath("ratings.csv").is_file()
    assert mirror.archive_requests() == [None, f"bytes={kept}-"]
    assert not part.exists()


def test_resume_restarts_when_the_server_ignores_range(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive, md5=md5(archive))
    mirror.ranges = False
    (tmp_path / f".{ARCHIVE}.part").write_bytes(b"stale bytes from another file")
    fetch(NAME, tmp_path, mirror.url, progress=False)
    marker = json.loads((tmp_path / NAME / MARKER).read_text())
    assert marker["md5"] == md5(archive)
    assert mirror.archive_requests() == ["bytes=29-"]


def test_complete_part_file_is_verified_without_download(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive)  # no md5 published: size and zip checks only
    (tmp_path / f".{ARCHIVE}.part").write_bytes(archive)
    fetch(NAME, tmp_path, mirror.url, progress=False)
    assert (tmp_path / NAME / "ratings.csv").is_file()
    assert json.loads((tmp_path / NAME / MARKER).read_text())["md5_published"] is False
    assert mirror.archive_requests() == [f"bytes={len(archive)}-"]  # answered 416


def test_md5_mismatch_removes_everything(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    corrupt = bytearray(archive)
    corrupt[len(archive) // 2] ^= 0xFF
    mirror.publish(bytes(corrupt), md5=md5(archive))
    with pytest.raises(DownloadError, match="md5 mismatch") as err:
        fetch(NAME, tmp_path, mirror.url, progress=False)
    assert md5(archive) in str(err.value) and md5(bytes(corrupt)) in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>this is not the archive</html>", "not a valid zip"),
        (make_zip()[: len(make_zip()) // 2], "not a valid zip"),
        (make_zip().replace(b"Toy Story", b"Toy Storm"), "fails its CRC"),
        (make_zip({"other/ratings.csv": "x"}), f"no files in a top folder {NAME}/"),
    ],
    ids=["html", "truncated", "crc", "wrong-folder"],
)
def test_bad_archive_without_md5(mirror: Mirror, tmp_path: Path, body: bytes, message: str) -> None:
    mirror.publish(body)
    with pytest.raises(DownloadError, match=message):
        fetch(NAME, tmp_path, mirror.url, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_names_url_and_status(mirror: Mirror, tmp_path: Path, status: int) -> None:
    mirror.publish(make_zip())
    mirror.status[ARCHIVE] = status
    with pytest.raises(DownloadError) as err:
        fetch(NAME, tmp_path, mirror.url, progress=False)
    assert f"{mirror.url}{ARCHIVE}: HTTP {status}" in str(err.value)
    assert not (tmp_path / NAME).exists()


def test_md5_file_server_error_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish(make_zip())
    mirror.status[f"{ARCHIVE}.md5"] = 500
    with pytest.raises(DownloadError, match=r"\.md5: HTTP 500"):
        fetch(NAME, tmp_path, mirror.url, progress=False)
    assert mirror.archive_requests() == []


def test_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}/{ARCHIVE}.md5"):
        fetch(NAME, tmp_path, f"http://127.0.0.1:{port}", progress=False)


@pytest.mark.parametrize("evil", ["../evil", f"{NAME}/../../evil", "/tmp/evil"])
def test_path_traversal_is_refused(mirror: Mirror, tmp_path: Path, evil: str) -> None:
    dest = tmp_path / "data"
    mirror.publish(make_zip({f"{NAME}/ratings.csv": "userId\n", evil: "gotcha"}))
    with pytest.raises(DownloadError, match="unsafe member path"):
        fetch(NAME, dest, mirror.url, progress=False)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_unknown_name_and_foreign_folder_are_config_errors(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ml-latest-small, ml-latest, ml-100k"):
        fetch("ml-2m", tmp_path, mirror.url, progress=False)
    (tmp_path / NAME).mkdir()
    with pytest.raises(ConfigError, match="not fetched by sparrow"):
        fetch(NAME, tmp_path, mirror.url, progress=False)
    assert mirror.requests == []


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`sparrow ARGS` as a real process, without the caller's SPARROW_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPARROW_")}
    return subprocess.run(
        [str(SPARROW), *args],
        cwd=cwd,
        env=base | {"COLUMNS": "200"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_fetch_end_to_end(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive, md5=md5(archive))
    dest = tmp_path / "data"
    ok = run_cli("data", "fetch", NAME, "--dest", str(dest), "--mirror", mirror.url, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert (dest / NAME / "ratings.csv").is_file() and (dest / NAME / MARKER).is_file()
    mirror.status[ARCHIVE] = 404
    bad = run_cli(
        "data", "fetch", NAME, "--dest", str(tmp_path / "x"), "--mirror", mirror.url, cwd=tmp_path
    )
    assert bad.returncode == DownloadError.exit_code
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{mirror.url}{ARCHIVE}" in lines[0] and "404" in lines[0]


def test_cli_honours_mirror_and_data_env(mirror: Mirror, tmp_path: Path) -> None:
    archive = make_zip()
    mirror.publish(archive)
    dest = tmp_path / "store"
    done = run_cli(
        "data", "fetch", NAME, cwd=tmp_path, SPARROW_DATA_MIRROR=mirror.url, SPARROW_DATA=str(dest)
    )
    assert done.returncode == 0, done.stderr
    assert (dest / NAME / "ratings.csv").is_file()
    assert mirror.archive_requests() == [None]
