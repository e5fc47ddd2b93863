"""The Flink runner (`sparrow stream run --runner flink`): starts the Flink job (`flink_job.py`)
from the main environment, which cannot import pyflink: the job runs in a subprocess with the
Flink environment's Python (`make flink-env`).

Flink's FileSource reads whole files (it does not tail a growing one), so a continuous job
monitors a folder of immutable segments that `segment` cuts from the append-only event log:
`<build>/events/flink-segments/events-<start>-<end>.log` (byte offsets into the log, so the cut
resumes where it stopped; written under a hidden name, then renamed, so Flink never sees half
a segment).
"""

import contextlib
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from sparrow.artifacts.layout import BuildDir
from sparrow.config import StoreSettings, StreamSettings
from sparrow.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[3]
PYTHON_ENV = "SPARROW_FLINK_PYTHON"
SEGMENT = re.compile(r"events-(\d+)-(\d+)\.log")
SEGMENT_S = 1.0


def flink_python(python: Path | None = None) -> Path:
    """`python`, else $SPARROW_FLINK_PYTHON, else the repository's .venv-flink/bin/python."""
    found = python or Path(os.environ.get(PYTHON_ENV) or REPO / ".venv-flink" / "bin" / "python")
    if not found.is_file():
        raise ConfigError(
            f"no Flink environment at {found}: run `make flink-env` (or set {PYTHON_ENV})"
        )
    return found


def segment(log: Path, folder: Path) -> Path | None:
    """Copy the complete lines appended to `log` since the last segment into a new segment of
    `folder`; answers it (None when nothing was appended)."""
    folder.mkdir(parents=True, exist_ok=True)
    ends = [int(m[2]) for p in folder.iterdir() if (m := SEGMENT.fullmatch(p.name))]
    start = max(ends, default=0)
    try:
        with log.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return None
    data = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next cut
    if not data:
        return None
    path = folder / f"events-{start:016d}-{start + len(data):016d}.log"
    tmp = folder / f".{path.name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def job_command(python: Path, args: list[str], master: str | None = None) -> list[str]:
    """`python -m sparrow.stream.flink_job *args`; with `master` (HOST:PORT), PyFlink's
    `flink run` submitting it to that cluster (Python functions in worker processes)."""
    if master is None:
        return [str(python), "-m", "sparrow.stream.flink_job", *args]
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--flink-master must be HOST:PORT (the JobManager's REST), not {master!r}"
        )
    where = subprocess.run(
        [str(python), "-c", "import pyflink; print(pyflink.__path__[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    job = Path(__file__).with_name("flink_job.py")
    return [
        str(Path(where) / "bin" / "flink"),
        "run",
        "-m",
        master,
        "-pyclientexec",
        str(python),
        "-py",
        str(job),
        *args,
        "--remote",
        "--mode",
        "process",
    ]


def run_job(
    command: list[str], follow: tuple[Path, Path] | None = None, stop: threading.Event | None = None
) -> int:
    """Run the job's `command` until it ends or `stop` is set; with `follow` = (log, segments
    folder), cut a segment every second meanwhile. Answers the exit status."""
    stop = stop or threading.Event()
    job = subprocess.Popen(command)
    try:
        while job.poll() is None and not stop.is_set():
            if follow is not None:
                segment(*follow)
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.wait(SEGMENT_S)
    finally:
        if job.poll() is None:
            job.terminate()
    return job.wait()


class FlinkRunner:
    """The Flink job on the build's event file (once: as it is now; else its segments, cut every
    second), into the Redis store."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings

    def run(
        self, build: Path, store: StoreSettings, once: bool, stop: threading.Event
    ) -> dict[str, Any]:
        if store.type != "redis" or self.settings.log != "file":
            raise ConfigError(
                "the Flink runner reads the file log into Redis: use --store redis --log file"
            )
        layout = BuildDir(build)
        definitions = layout.manifest().definitions
        log = layout.events_log
        if once and not log.is_file():
            raise DataError(f"no event log at {log}")
        segments = layout.flink_segments
        args = [
            "--events",
            str(log if once else segments),
            "--dead",
            f"{log}.dead",
            "--threshold",
            str(definitions.positive_threshold),
            "--history",
            str(definitions.history),
            "--redis-url",
            store.redis_url,
            "--prefix",
            store.prefix,
            *([] if once else ["--follow"]),
        ]
        python = flink_python(self.settings.flink_python)
        command = job_command(python, args, self.settings.flink_master)
        status = run_job(command, None if once else (log, segments), stop)
        if status != 0 and not stop.is_set():  # stopped: the job was terminated
            raise ConfigError(f"the Flink job failed (exit status {status}; its output is above)")
        return {"runner": "flink", "exit_status": status}
