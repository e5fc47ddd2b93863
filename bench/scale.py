"""The embedded engine and Spark side by side on synthetic 1M/5M/25M ratings.

    python bench/scale.py                          # 1m,5m,25m, one run each: about 10 minutes
    python bench/scale.py --sizes 1m --repeat 3 --master 'local[2]'

Each build runs in a fresh process. Reported per engine: whole-process wall time, peak
memory of the Python driver process, of the JVM (Spark) and of Spark's Python workers, all
sampled from /proc while the build runs. Prints a table and writes JSON (medians).
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

METRICS = ("wall_s", "peak_rss_mb", "jvm_peak_mb", "python_workers_peak_mb")


def measure(data: Path, settings: FeatureSettings, repeat: int) -> dict[str, Any]:
    """Medians over `repeat` fresh-process builds."""
    with tempfile.TemporaryDirectory(prefix="sparrow-scale-") as tmp:
        runs = [
            run_build(data, Path(tmp) / f"build{i}", settings.model_dump_json())
            for i in range(repeat)
        ]
    medians = {m: statistics.median(float(r[m]) for r in runs) for m in METRICS}
    return {
        "ratings": runs[0]["rows"]["ratings"],
        "runs": repeat,
        **medians,
        "steps_s_last_run": runs[-1]["timings_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,5m,25m", help="comma-separated: 1m,5m,25m")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size and engine")
    parser.add_argument("--master", default="local[2]", help="Spark master URL")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where synthetic data is kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    args = parser.parse_args()

    engines = {
        "duckdb": FeatureSettings(),
        f"spark {args.master}": FeatureSettings(engine="spark", spark_master=args.master),
    }
    results: dict[str, dict[str, Any]] = {}
    for size in args.sizes.split(","):
        data = dataset(size, args.cache)
        results[size] = {name: measure(data, s, args.repeat) for name, s in engines.items()}

    table = Table(title="feature build: embedded engine vs Spark (fresh process, medians)")
    columns = ("ratings", "engine", "wall s", "vs duckdb", "driver MB", "JVM MB", "workers MB")
    for column in columns:
        table.add_column(column, justify="left" if column == "engine" else "right")
    for by_engine in results.values():
        base = by_engine["duckdb"]["wall_s"]
        for name, r in by_engine.items():
            table.add_row(
                f"{r['ratings']:,}",
                name,
                f"{r['wall_s']:.1f}",
                f"{r['wall_s'] / base:.2f}x",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['jvm_peak_mb']:.0f}",
                f"{r['python_workers_peak_mb']:.0f}",
            )
    Console().print(table)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "master": args.master,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
