"""Parquet files written chunk by chunk, complete or not at all."""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class ParquetSink:
    """Streams tables of one schema into a parquet file on a background thread.

    Encoding parquet releases the GIL, so writing overlaps with computing the next chunk; at
    most `MAX_PENDING` tables wait. The file is written under a temporary name and renamed
    when closed without error (so a retried Spark task replaces its part file whole); it is
    written even when no rows arrive.
    """

    MAX_PENDING = 2

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp")
        self.writer = pq.ParquetWriter(self.tmp, schema)
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.pending: deque[Future[None]] = deque()
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        while len(self.pending) >= self.MAX_PENDING:
            self.pending.popleft().result()
        self.pending.append(self.thread.submit(self.writer.write_table, table))
        self.rows += table.num_rows

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.thread.shutdown()
            self.writer.close()
        if error is None:
            self.tmp.rename(self.path)
        else:
            self.tmp.unlink(missing_ok=True)
