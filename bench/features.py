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
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from common import CACHE, REPO, dataset, run_build
from sparrow.config import FeatureSettings


def measure(data: Path, repeat: int) -> dict[str, Any]:
    """Run the build `repeat` times in fresh processes; medians of wall time and peak memory."""
    settings = FeatureSettings().model_dump_json()
    with tempfile.TemporaryDirectory(prefix="sparrow-bench-") as tmp:
        runs = [run_build(data, Path(tmp) / f"build{i}", settings) for i in range(repeat)]
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
    parser.add_argument("--cache", type=Path, default=CACHE, help="where synthetic data is kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "features.json")
    args = parser.parse_args()

    results = {
        size: measure(dataset(size, args.cache), args.repeat) for size in args.sizes.split(",")
    }
    table = Table(title="sparrow features build (fresh process per run, medians)")
    for column in ("dataset", "ratings", "runs", "wall s", "build s", "peak RSS MB", "ratings/s"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for size, r in results.items():
        wall, ratings = float(r["wall_s_median"]), int(r["ratings"])
        table.add_row(
            size,
            f"{ratings:,}",
            str(r["runs"]),
            f"{wall:.2f}",
            f"{r['build_s_median']:.2f}",
            f"{r['peak_rss_mb_median']:.0f}",
            f"{ratings / wall:,.0f}",
        )
    Console().print(table)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
