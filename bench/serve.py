"""Serving throughput and latency: `sparrow serve` on the memory store and on the Redis store.

    python bench/serve.py                      # both stores, 3 repeats: ~17 minutes
    python bench/serve.py --skip-redis --repeats 1 --duration 5 --seconds 10 --sweep 50,100
    python bench/serve.py --redis-cache-users 0  # Redis without the service's profile cache
    python bench/serve.py --busy 1               # while another process keeps a core busy

Builds ml-latest-small with item2vec and DeepFM (defaults; cached in <cache>/build-small-serve),
serves it from the memory store and, at the same time, from a throw-away redis-server filled by
`push`. Per repeat, one store after the other (both see the same neighbours on a shared
machine; the order alternates), each run once the cores are quiet: wrk on /healthz, /getmovie,
/getsimilarmovie and /getrecforyou?model=deepfm (ids rotate over every movie and user); an open
loop (request i leaves at start + i / rate, latency counted from then) at --rate on
/getrecforyou with deepfm answers, fallbacks, candidates, profiles from the cache and server
time; the open loop at rising --sweep rates until p90 > 50 ms or > 1 % fallbacks. Prints
medians and the issue's targets.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import redis
from rich.console import Console
from rich.table import Table

from common import CACHE, REPO, dataset
from sparrow.artifacts.models import saved
from sparrow.store.push import push

SPARROW = str(Path(sys.executable).parent / "sparrow")
LUA = """local p, n, i = {}, 0, 0; function init(a) for l in io.lines(a[1]) do n = n + 1; p[n] = l
end end; function request() i = i % n + 1; return wrk.format("GET", p[i]) end"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
REC, SLO_P50, SLO_P99, KEEP_P90 = "/getrecforyou", 10.0, 30.0, 50.0  # KEEP_P90: the budget
SWEPT = ("slo", "keeps_up")  # highest rates with the figures; keeping up (see sweep)
ENDPOINTS = ("/healthz", "/getmovie", "/getsimilarmovie", REC)
WRK_COLUMNS = "rps:,.0f p50:.2f p90:.2f p99:.2f errors:.0f fallbacks:.0f"
FIXED_COLUMNS = ("requests:.0f p50:.2f p90:.2f p99:.2f max:.2f deepfm:.0f fallbacks:.0f "
                 "candidates:.0f cached:.0f server_p50:.2f server_p99:.2f "
                 "user_p99:.2f")  # fmt: skip
REDIS = ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir"]  # fmt: skip
console = Console(width=max(120, shutil.get_terminal_size().columns))


def serving_build(cache: Path) -> Path:
    """The cached serving build: features, item2vec and DeepFM, all with default settings."""
    out = cache / "build-small-serve"
    vectors = out / "embeddings" / "item2vec" / "items.parquet"
    if vectors.is_file() and any(m.name == "deepfm" for m in saved(out)):
        return out
    from sparrow.config import EmbeddingSettings, FeatureSettings, TrainingSettings
    from sparrow.embedding.pipeline import embed_items
    from sparrow.features.pipeline import build
    from sparrow.training.pipeline import train_model

    console.log(f"making the serving build {out}")
    shutil.rmtree(out, ignore_errors=True)
    build(dataset("small", cache), out, FeatureSettings(), progress=False)
    embed_items(out, "item2vec", EmbeddingSettings())
    train_model(out, "deepfm", TrainingSettings(), progress=False)
    return out


def request_paths(build: Path) -> dict[str, list[str]]:
    """Per endpoint, the paths rotated over: every movie, every user (shuffled, seeded)."""
    rng = np.random.default_rng(42)
    movies = rng.permutation(pq.read_table(build / "catalog" / "items.parquet")["item_id"])
    users = rng.permutation(pq.read_table(build / "features" / "users.parquet")["userId"])
    return {
        "/healthz": ["/healthz"],
        "/getmovie": [f"/getmovie?id={m}" for m in movies],
        "/getsimilarmovie": [f"/getsimilarmovie?movieId={m}&size=16" for m in movies],
        REC: [f"{REC}?id={u}&size=32&model=deepfm" for u in users],
    }


@contextlib.contextmanager
def started(
    command: list[str], log: Path, ready: Callable[[int], object], env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run `command` ("{port}": a free port; `env` added to the environment) until
    `ready(port)` works; yield the port; stop it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port, deadline = int(s.getsockname()[1]), time.monotonic() + 120
    with log.open("wb") as out:
        argv = [c.replace("{port}", str(port)) for c in command]
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=os.environ | (env or {})
        )
    try:
        while True:
            with contextlib.suppress(httpx.HTTPError, redis.RedisError):
                ready(port)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        process.kill()


def quiet(limit: float = 0.2, wait_s: float = 60) -> float:
    """Wait (at most `wait_s`) until the cores are at most `limit` busy; that share."""
    deadline, busy = time.monotonic() + wait_s, 1.0
    while busy > limit and time.monotonic() < deadline:
        before = np.array(Path("/proc/stat").read_text().split()[1:11], int)
        time.sleep(1)
        spent = np.array(Path("/proc/stat").read_text().split()[1:11], int) - before
        busy = 1 - float(spent[3] + spent[4]) / spent.sum()  # idle + iowait
    return busy


def wrk(url: str, paths: list[str], seconds: int, connections: int, tmp: Path) -> dict[str, float]:
    """wrk's requests/s, p50/p90/p99 (ms) and errors (socket errors and non-2xx answers)."""
    (tmp / "rotate.lua").write_text(LUA)
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(tmp / "rotate.lua"),
        url,
        "--",
        str(tmp / "paths.txt"),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    found = re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(\w+)$", out, re.M)
    if rps is None or len(found) != 3:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = re.findall(r"(?:connect|read|write|timeout|responses:) (\d+)", out)
    return {
        "rps": float(rps[1]),
        **{f"p{p}": float(v) * UNITS[u] for p, v, u in found},
        "errors": float(sum(map(int, errors))),
    }


def counted(url: str, name: str, labels: str = ".*") -> float:
    """A counter's total over the label sets matching `labels` (of the worker answering)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(map(float, re.findall(rf"^{name}_total\{{{labels}\}} (\S+)$", text, re.M)))


def fallbacks(url: str) -> float:
    """sparrow_ranking_fallbacks_total, every reason."""
    return counted(url, "sparrow_ranking_fallbacks")


def cache_hits(url: str) -> float:
    """sparrow_profile_cache_total{result="hit"} (0 on the memory store)."""
    return counted(url, "sparrow_profile_cache", 'result="hit"')


async def paced(url: str, paths: list[str], rate: float, seconds: float) -> list[Any]:
    """Open loop: request i leaves at start + i / rate; latencies (ms) from then, rankers."""
    host, port = url.removeprefix("http://").split(":")
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    total, start = int(rate * seconds), time.perf_counter() + 0.05
    latency, ranking = np.zeros(total), [""] * total

    async def one(i: int) -> None:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
        fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        await reader.readexactly(int(fields["content-length"]))
        latency[i] = (time.perf_counter() - start - i / rate) * 1000
        ranking[i] = fields.get("x-sparrow-ranking", "") if " 200 " in head[0] else head[0]
        idle.append((reader, writer))

    tasks = []
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return [latency, ranking]


def fixed_rate(
    url: str, paths: list[str], rate: float, secs: float, log: Path, limit: float
) -> dict[str, Any]:
    """One open-loop run once the cores are at most `limit` busy: latency percentiles, deepfm
    answers, fallbacks, candidates, server ms (all, and reading the user's profile)."""
    busy, before, hits, offset = quiet(limit), fallbacks(url), cache_hits(url), log.stat().st_size
    latency, ranking = asyncio.run(paced(url, paths, rate, secs))
    logged = re.findall(
        rb"recforyou .*?candidates=(\d+) ms=([\d.]+) user_ms=([\d.]+)", log.read_bytes()[offset:]
    )
    server = np.array(logged, dtype=float).reshape(-1, 3)
    p50, p90, p99 = np.percentile(latency, [50, 90, 99])
    fell, total = fallbacks(url) - before, len(latency)  # fell: of the worker answering /metrics
    deepfm = sum(r == "deepfm" for r in ranking)  # answers ranked by deepfm, from the headers
    return {
        "rate": rate,
        "requests": total,
        "p50": p50,
        "p90": p90,
        "p99": p99,
        "max": latency.max(),
        "deepfm": deepfm,
        "busy": busy,
        "fallbacks": fell,
        "candidates": np.median(server[:, 0]),
        "cached": 100 * (cache_hits(url) - hits) / total,  # % of profiles from the cache
        "slo": p50 <= SLO_P50 and p99 <= SLO_P99 and deepfm == total,  # the figures
        "keeps_up": p90 <= KEEP_P90 and deepfm >= 0.99 * total,  # <= 1 % not by deepfm
        "server_p50": np.median(server[:, 1]),
        "server_p99": np.percentile(server[:, 1], 99),
        "user_p99": np.percentile(server[:, 2], 99),
        "not_deepfm": sorted({r for r in ranking if r != "deepfm"}),
    }


def measure(urls: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Per store, every run, --repeats times, after a warm-up; the stores in turn within each
    repeat, in alternating order (both see the same neighbours on a shared machine, and a
    drift favours neither); their medians."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {k: [] for k in [*ENDPOINTS, "fixed", "sweep"]} for s in urls
    }
    for url in urls.values():
        wrk(url, args.paths[REC], 2, args.connections, tmp)  # warm-up
    rec = args.paths[REC]
    for repeat in range(args.repeats):
        for store, url in list(urls.items())[:: 1 if repeat % 2 == 0 else -1]:
            console.log(f"  repeat {repeat + 1}/{args.repeats}: {store}")
            log = tmp / f"{store}.log"
            for name in ENDPOINTS:
                busy, before = quiet(args.quiet), fallbacks(url)
                found = wrk(url, args.paths[name], args.duration, args.connections, tmp)
                runs[store][name].append(
                    found | {"fallbacks": fallbacks(url) - before, "busy": busy}
                )
            runs[store]["fixed"].append(
                fixed_rate(url, rec, args.rate, args.seconds, log, args.quiet)
            )
            steps: list[dict[str, Any]] = []
            for rate in map(float, args.sweep.split(",")):
                steps.append(fixed_rate(url, rec, rate, args.sweep_seconds, log, args.quiet))
                if not steps[-1]["keeps_up"]:
                    break
            rates = {k: max([s["rate"] for s in steps if s[k]], default=0.0) for k in SWEPT}
            runs[store]["sweep"].append(rates | {"steps": steps})
    return {store: summary(urls[store], found) for store, found in runs.items()}


def summary(url: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One store's runs and their medians."""
    swept = {k: [r[k] for r in runs["sweep"]] for k in SWEPT}
    medians = {
        name: {
            k: sorted({x for r in found for x in r[k]})
            if isinstance(v, list)
            else float(np.median([r[k] for r in found]))
            for k, v in found[0].items()
        }
        for name, found in runs.items()
        if name != "sweep"
    }
    return {
        "healthz": httpx.get(f"{url}/healthz", timeout=10).json(),
        "runs": runs,
        **medians,
        "sweep_runs": swept,
        **{k: float(np.median(v)) for k, v in swept.items()},
    }


def report(res: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, bool]:
    """Print the tables and figures; which of the issue's targets are met."""
    for title, spec, lead, rows in (
        (
            f"wrk -t1 -c{args.connections} -d{args.duration}s",
            WRK_COLUMNS,
            ["endpoint", "store"],
            [([e, s], r[e]) for s, r in res.items() for e in ENDPOINTS],
        ),
        (
            f"{REC} model=deepfm, open loop at {args.rate:g}/s for {args.seconds:g} s",
            FIXED_COLUMNS,
            ["store"],
            [([s], r["fixed"]) for s, r in res.items()],
        ),
    ):
        columns = [c.split(":", 1) for c in spec.split()]
        out = Table(
            *lead,
            *(k for k, _ in columns),
            title=f"{title}, {args.workers} worker(s); ms; median of {args.repeats}",
        )
        for names, found in rows:
            out.add_row(*names, *(format(found[k], f) for k, f in columns))
        console.print(out)
    for s, r in res.items():
        health = r["/healthz"]["rps"]
        console.print(
            f"{s}: {REC} sustained with p50 <= {SLO_P50:g} ms, p99 <= {SLO_P99:g} ms, "
            f"no fallback: {r['slo']:g}/s (runs {r['sweep_runs']['slo']}); p90 <= "
            f"{KEEP_P90:g} ms, <= 1 % fallbacks: {r['keeps_up']:g}/s (runs "
            f"{r['sweep_runs']['keeps_up']}) = {r['keeps_up'] / health:.3f} x /healthz "
            f"({health:,.0f}/s); wrk: {r[REC]['rps'] / health:.3f} x"
        )
    mem, fixed = res["memory"], res["memory"]["fixed"]
    met = {
        f"{REC} p50 <= {SLO_P50:g} ms, p99 <= {SLO_P99:g} ms at {args.rate:g}/s (memory)": fixed[
            "p50"
        ]
        <= SLO_P50
        and fixed["p99"] <= SLO_P99,
        f"every {REC} at {args.rate:g}/s ranked by deepfm (memory)": fixed["deepfm"]
        == fixed["requests"],
        **{f"{e} >= 1,000 requests/s (memory)": mem[e]["rps"] >= 1000 for e in ENDPOINTS[1:3]},
    }
    if "redis" in res:
        low = [np.median([r["steps"][0]["p99"] for r in res[s]["runs"]["sweep"]]) for s in res]
        pairs = zip(res["redis"]["runs"]["fixed"], res["memory"]["runs"]["fixed"], strict=True)
        delta = float(np.median([r["p99"] - m["p99"] for r, m in pairs]))  # of each repeat
        console.print(
            f"redis - memory open-loop p99 (median of the repeats' differences): "
            f"{delta:+.2f} ms at {args.rate:g}/s, "
            f"{low[1] - low[0]:+.2f} ms at {args.sweep.split(',')[0]}/s"
        )
        met["redis p99 within 2 ms of memory (open loop)"] = delta <= 2
    for what, ok in met.items():
        console.print(f"{'[green]met' if ok else '[red]NOT met'}[/]: {what}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--duration", type=int, default=10, help="seconds of each wrk run")
    add("--connections", type=int, default=16, help="wrk connections")
    add("--rate", type=float, default=100.0, help="open-loop requests/s")
    add("--seconds", type=float, default=20.0, help="seconds of the open-loop run")
    add("--sweep", default="25,50,75,100,125,150,200,250,300", help="rising open-loop rates")
    add("--sweep-seconds", type=float, default=10.0, help="seconds per sweep rate")
    add("--repeats", type=int, default=3, help="runs of everything (medians)")
    add("--workers", type=int, default=1, help="sparrow serve --workers")
    add("--skip-redis", action="store_true", help="only the memory store")
    add("--busy", type=int, default=0, help="CPU-bound processes spinning while measuring")
    add(
        "--redis-cache-users",
        type=int,
        help="the Redis service's store.cache_users "
        "(default: its default, 10,000; 0: every profile read from Redis)",
    )
    add("--cache", type=Path, default=CACHE, help="where data and builds are kept")
    add("--out", type=Path, default=REPO / "bench" / "results" / "serve.json")
    args = parser.parse_args()
    for tool in ["wrk"] + ([] if args.skip_redis else ["redis-server"]):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed; on Debian/Ubuntu: apt-get install -y {tool}")
    args.quiet = 0.2 + args.busy / (os.cpu_count() or 1)  # "quiet": only the spinners busy
    args.build = serving_build(args.cache)
    args.paths = request_paths(args.build)
    with (
        tempfile.TemporaryDirectory(prefix="sparrow-serve-") as folder,
        contextlib.ExitStack() as stack,
    ):
        tmp, urls = Path(folder), {}
        for store in ["memory"] + ([] if args.skip_redis else ["redis"]):
            extra, env = [], {}
            if store == "redis":  # a throw-away redis-server, filled by push
                ping = lambda port: redis.Redis(port=port).ping()  # noqa: E731
                port = stack.enter_context(started([*REDIS, folder], tmp / "redis.log", ping))
                push(args.build, f"redis://127.0.0.1:{port}/0", "sparrow", progress=False)
                extra = ["--store", "redis", "--redis-url", f"redis://127.0.0.1:{port}/0"]
                if args.redis_cache_users is not None:
                    env = {"SPARROW_STORE__CACHE_USERS": str(args.redis_cache_users)}
            command = [
                SPARROW,
                "serve",
                "--build",
                str(args.build),
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--workers",
                str(args.workers),
                *extra,
            ]
            health = lambda port: httpx.get(f"http://127.0.0.1:{port}/healthz")  # noqa: E731
            port = stack.enter_context(started(command, tmp / f"{store}.log", health, env))
            urls[store] = f"http://127.0.0.1:{port}"
        console.log(f"serving {', '.join(urls)} with {args.workers} worker(s) each")
        for _ in range(args.busy):  # other work on a shared machine
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            stack.callback(spinner.kill)
        results = measure(urls, args, tmp)
    met = report(results, args)
    settings = {k: str(v) for k, v in vars(args).items() if k != "paths"}
    doc = {
        "dataset": "ml-latest-small",
        "cpus": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "settings": settings,
        "results": results,
        "targets_met": met,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
