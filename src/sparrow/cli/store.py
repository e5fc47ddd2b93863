"""`sparrow store push` and `sparrow store info`: a build's online data in Redis."""

import typer
from rich.table import Table

from sparrow.cli.common import (
    BuildOption,
    ConfigOption,
    PrefixOption,
    RedisUrlOption,
    console,
    settings_from,
    with_options,
)

store_app = typer.Typer(help="Load a build's online data into Redis.", no_args_is_help=True)


@store_app.command("push")
def push_command(
    build: BuildOption,
    redis_url: RedisUrlOption = None,
    prefix: PrefixOption = None,
    config: ConfigOption = None,
) -> None:
    """Write a build's movies, users, features, rankings and vectors to Redis as a new version,
    then make it the active one; the version it replaces is kept for rollback, older ones are
    deleted. A failed push leaves the active version as it was.

      sparrow store push --build build/ml-latest-small
      sparrow store push --build build/ml-25m --redis-url redis://cache:6379/0 --prefix prod
    """
    from sparrow.store.push import info, push

    store = with_options(settings_from(config).store, locals())
    version = push(build, store.redis_url, store.prefix, progress=True)
    console.print(f"[green]active:[/green] {version} ({store.redis_url}, prefix {store.prefix!r})")
    _show(info(store.redis_url, store.prefix), only=version)


@store_app.command("info")
def info_command(
    redis_url: RedisUrlOption = None,
    prefix: PrefixOption = None,
    config: ConfigOption = None,
) -> None:
    """Show the active version and the counts of every version stored under the prefix."""
    from sparrow.store.push import info

    store = with_options(settings_from(config).store, locals())
    found = info(store.redis_url, store.prefix)
    console.print(f"active: {found['active'] or 'none (run sparrow store push)'}")
    _show(found)


def _show(found: dict[str, object], only: str | None = None) -> None:
    metas = [m for m in found["versions"] if only in (None, m.version)]  # type: ignore[attr-defined]
    if not metas:
        return
    table = Table(title="versions" if only is None else None)
    table.add_column("", justify="left")
    for meta in metas:
        table.add_column(
            meta.version + (" (active)" if meta.version == found["active"] else ""), justify="right"
        )
    table.add_row("created", *(m.created[:19] for m in metas))
    table.add_row("methods", *(", ".join(m.methods) for m in metas))
    for name in metas[0].counts:
        table.add_row(name, *(_count(name, m.counts.get(name, 0)) for m in metas))
    console.print(table)


def _count(name: str, value: int) -> str:
    if name == "used_memory_delta":
        return f"{value / 2**20:,.1f} MiB"
    if name == "push_ms":
        return f"{value / 1000:,.1f} s"
    return f"{value:,}"
