"""The summary table printed at the end of `sparrow features build`."""

from datetime import UTC, datetime

from rich.table import Table

from sparrow.artifacts.layout import Manifest


def _date(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(manifest: Manifest) -> Table:
    """One table: what was built from what, with row counts, split and timings."""
    rows, split, positive = manifest.rows, manifest.split, manifest.positive_rate
    table = Table(title=f"feature build: {manifest.dataset.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    cutoff = f"time, test from {_date(split.cutoff_ts)}" if split.cutoff_ts else "random"
    compat = manifest.definitions.sparrow_compat
    entries = [
        ("ratings used", f"{rows['ratings']:,}"),
        ("as of (UTC)", _date(manifest.as_of)),
        ("split", f"{cutoff} ({split.test_fraction:.0%} test)"),
        ("train samples", f"{rows['train_samples']:,} ({_rate(positive['train'])} positive)"),
        ("test samples", f"{rows['test_samples']:,} ({_rate(positive['test'])} positive)"),
        ("online movies / users", f"{rows['movies']:,} / {rows['users']:,}"),
        ("genres", str(len(manifest.genres))),
        ("mode", "sparrow-compat (leaky)" if compat else "point-in-time"),
        ("build time", _timings(manifest.timings_s)),
        ("config digest", manifest.config_digest),
    ]
    for what, value in entries:
        table.add_row(what, value)
    return table


def _timings(timings: dict[str, float]) -> str:
    steps = ", ".join(f"{step} {s:.1f}" for step, s in timings.items() if step != "total")
    return f"{timings['total']:.1f} s ({steps})"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
