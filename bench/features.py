"""Feature build wall time and peak memory on ml-latest-small and synthetic 1M/5M/25M ratings.

    python bench/features.py                       # all sizes, 3 runs each: about 6 minutes
    python bench/features.py --sizes small,1m --repeat 5

Each run is a fresh process (`sparrow features build` as a user runs it); wall time covers the
whole process, peak memory is that process's maximum resident set. Synthetic datasets are
generated once into --cache. Prints a table and writes JSON (medians over --repeat runs).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparrow.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
SMALL = Path(os.environ.get("SPARROW_DATA", REPO.parent / "shared" / "data")) / "ml-latest-small"
# users, movies, ratings: proportions of ml-1m, ml-10m and ml-25m
SYNTHETIC = {
    "1m": (6_000, 4_000, 1_000_000),
    "5m": (32_000, 20_000, 5_000_000),
    "25m": (162_000, 62_000, 25_000_000),
}
CHILD = """
import json, resource, sys, time
from pathlib import Path
from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build
start = time.perf_counter()
manifest = build(Path(sys.argv[1]), Path(sys.argv[2]), FeatureSettings(), progress=False)
print(json.dumps({"build_s": time.perf_counter() - start, "rows": manifest["rows"],
                  "timings_s": manifest["timings_s"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def dataset(size: str, cache: Path) -> Path:
    """The dataset folder for `size`, generated into `cache` on first use."""
    if size == "small":
        return SMALL
    folder = cache / f"synthetic-{size}"
    if not (folder / "ratings.csv").is_file():
        users, items, ratings = SYNTHETIC[size]
        generate(folder, users=users, items=items, ratings=ratings, seed=42)
    return folder


def measure(data: Path, repeat: int) -> dict[str, object]:
    """Run the build `repeat` times in fresh processes; medians of wall time and peak memory."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="sparrow-bench-") as tmp:
        for i in range(repeat):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(data), f"{tmp}/build{i}"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            runs.append({"wall_s": time.perf_counter() - start, **json.loads(done.stdout)})
    walls = [float(r["wall_s"]) for r in runs]
    return {
        "ratings": runs[0]["rows"]["ratings"],
        "runs": repeat,
        "wall_s_median": statistics.median(walls),
        "wall_s_all": walls,
        "build_s_median": statistics.median(float(r["build_s"]) for r in runs),
        "peak_rss_mb_median": statistics.median(float(r["peak_rss_mb"]) for r in runs),
        "steps_s_last_run": runs[-1]["timings_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="small,1m,5m,25m", help="comma-separated: small,1m,5m,25m"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "sparrow-bench")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "features.json")
    args = parser.parse_args()

    results = {}
    for size in args.sizes.split(","):
        results[size] = measure(dataset(size, args.cache), args.repeat)

    table = Table(title="sparrow features build (fresh process per run, medians)")
    for column in ("dataset", "ratings", "runs", "wall s", "build s", "peak RSS MB", "ratings/s"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for size, r in results.items():
        wall = float(r["wall_s_median"])  # type: ignore[arg-type]
        ratings = int(r["ratings"])  # type: ignore[call-overload]
        table.add_row(
            size, f"{ratings:,}", str(r["runs"]), f"{wall:.2f}", f"{r['build_s_median']:.2f}",
            f"{r['peak_rss_mb_median']:.0f}", f"{ratings / wall:,.0f}",
        )  # fmt: skip
    Console().print(table)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "results": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
