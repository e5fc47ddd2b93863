"""Shared by the benchmarks: datasets, a build in a fresh process, and its memory by process."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparrow.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
SMALL = Path(os.environ.get("SPARROW_DATA", REPO.parent / "shared" / "data")) / "ml-latest-small"
CACHE = Path(tempfile.gettempdir()) / "sparrow-bench"
# users, movies, ratings: proportions of ml-1m, ml-10m and ml-25m
SYNTHETIC = {
    "1m": (6_000, 4_000, 1_000_000),
    "5m": (32_000, 20_000, 5_000_000),
    "25m": (162_000, 62_000, 25_000_000),
}
CHILD = """
import json, resource, sys, time
from pathlib import Path
from typing import Any
from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build
settings = FeatureSettings.model_validate_json(sys.argv[3])
start = time.perf_counter()
manifest = build(Path(sys.argv[1]), Path(sys.argv[2]), settings, progress=False)
print(json.dumps({"build_s": time.perf_counter() - start, "rows": manifest.rows,
                  "timings_s": manifest.timings_s,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def dataset(size: str, cache: Path = CACHE) -> Path:
    """The dataset folder for `size` ("small" or a SYNTHETIC key), generated on first use."""
    if size == "small":
        return SMALL
    folder = cache / f"synthetic-{size}"
    if not (folder / "ratings.csv").is_file():
        users, items, ratings = SYNTHETIC[size]
        generate(folder, users=users, items=items, ratings=ratings, seed=42)
    return folder


@dataclass
class _TreeMemory:
    """Peak resident memory (VmHWM) of every descendant of a process, sampled while it runs."""

    root: int
    peaks: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (command, MB)

    def sample(self) -> None:
        for pid in self._descendants(self.root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peaks[pid] = (name, int(line.split()[1]) / 1024)

    def total(self, command: str) -> float:
        """Sum of the peaks of the descendants whose command starts with `command`."""
        return sum(mb for name, mb in self.peaks.values() if name.startswith(command))

    @staticmethod
    def _descendants(pid: int) -> list[int]:
        found, todo = [], [pid]
        while todo:
            current = todo.pop()
            for task in Path(f"/proc/{current}/task").glob("*"):
                try:
                    children = (task / "children").read_text().split()
                except OSError:
                    continue
                found += [int(c) for c in children]
                todo += [int(c) for c in children]
        return found


def run_build(data: Path, out: Path, settings_json: str) -> dict[str, Any]:
    """One `sparrow features build` in a fresh process: its report plus wall time and memory."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), str(out), settings_json],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree = _TreeMemory(process.pid)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            tree.sample()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    done.set()
    watcher.join()
    if process.returncode:
        raise RuntimeError(f"build failed:\n{stderr[-3000:]}")
    report = json.loads(stdout.strip().splitlines()[-1])
    return {
        "wall_s": time.perf_counter() - start,
        "jvm_peak_mb": tree.total("java"),
        "python_workers_peak_mb": tree.total("python"),
        **report,
    }
