"""Cut a stream of sorted Arrow batches into tables that hold whole entities."""

from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc


def whole_groups(batches: Iterable[pa.RecordBatch], key: str) -> Iterator[pa.Table]:
    """Re-chunk batches sorted by `key` so that no value of `key` spans two yielded tables."""
    pending: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        keys = batch.column(key)
        last = keys[-1]
        # rows before the first row of the batch's last key are complete
        cut = batch.num_rows - int(pc.sum(pc.equal(keys, last)).as_py())
        if cut > 0:
            yield pa.Table.from_batches([*pending, batch.slice(0, cut)])
            pending = []
        pending.append(batch.slice(cut))
    if pending:
        yield pa.Table.from_batches(pending)
