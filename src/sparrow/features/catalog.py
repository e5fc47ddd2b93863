"""The catalogue part of a build directory: the canonical tables of the build's time window."""

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow.artifacts.layout import BuildDir, CatalogTable
from sparrow.data.schema import Dataset


def write_small_tables(ds: Dataset, until: int | None, build: BuildDir) -> None:
    """items, links, tags (none after `until`) and users into the build's catalogue; engines add
    the ratings."""
    tags = ds.tags if until is None else ds.tags.filter(pc.less_equal(ds.tags["ts"], until))
    tables: dict[CatalogTable, pa.Table] = {"items": ds.items, "links": ds.links, "tags": tags}
    if ds.users is not None:
        tables["users"] = ds.users
    build.catalog_dir.mkdir(exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, build.catalog(name))
