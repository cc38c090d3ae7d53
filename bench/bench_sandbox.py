"""Upload throughput of the sandbox API: init + PUT + publish of small distinct videos, against a uvicorn server
on loopback, with a baseline measured in the same run.

Target (issue "sandbox platform"): at least 50 uploads a second on 2 cores. Each upload is the full three-step
API flow, so the server hashes the bytes (SHA-256), decodes frames for the perceptual fingerprint, applies every
rule (pacing, exact and near duplicates) and runs the market model. The baseline is a bare FastAPI endpoint on
the same uvicorn setup that only reads the same upload bodies; the ratio shows what the platform's work costs.
Both servers run in their own process; the load generator (a bounded number of requests from a few client
threads) runs in this one, all on the same cores.

    .venv/bin/python bench/bench_sandbox.py --uploads 300 --clients 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402

from clipper.ffmpeg import Command, Input, Output, run  # noqa: E402
from sandbox.process import free_port  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"


def baseline_app() -> FastAPI:
    """A bare FastAPI app whose one endpoint reads an upload body and answers its size."""
    app = FastAPI()

    @app.put("/upload")
    async def upload(request: Request) -> dict[str, int]:
        body = await request.body()
        return {"size": len(body)}

    return app


def make_videos(folder: Path, count: int) -> list[Path]:
    """``count`` distinct one-second 96x160 H.264 clips (random ``life`` boards), two ffmpeg processes at a time."""

    def one(n: int) -> Path:
        path = folder / f"v{n}.mp4"
        spec = f"life=seed={n}:ratio=0.35:mold=0:size=96x160:rate=10"
        run(
            Command(
                inputs=(Input(spec, options=("-f", "lavfi"), duration=1.0),),
                outputs=(
                    Output(
                        str(path),
                        options=("-c:v", "libx264", "-preset", "ultrafast", "-b:v", "150k", "-pix_fmt", "yuv420p"),
                    ),
                ),
            ),
            subject=str(path),
        )
        return path

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, range(1000, 1000 + count)))


@contextmanager
def server(argv: list[str], port: int) -> Iterator[str]:
    """Run a server process until the block ends; wait (bounded) until it answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MCN_SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def timed_run(jobs: list[Callable[[httpx.Client], None]], clients: int, url: str) -> tuple[float, list[float]]:
    """Run every job once across ``clients`` threads (one keep-alive connection each); wall time and latencies."""
    local = threading.local()
    latencies: list[float] = []
    lock = threading.Lock()

    def work(job: Callable[[httpx.Client], None]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, timeout=30)
        started = time.perf_counter()
        job(client)
        with lock:
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, jobs))
    return time.perf_counter() - started, latencies


def sandbox_upload_job(token: str, data: bytes, title: str) -> Callable[[httpx.Client], None]:
    """One full API upload: init, PUT, publish; fails loudly on any refusal."""

    def job(client: httpx.Client) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        init = client.post("/api/v1/video/upload/init", json={"file_size": len(data)}, headers=auth)
        init.raise_for_status()
        client.put(init.json()["upload_url"], content=data, headers=auth).raise_for_status()
        published = client.post(
            "/api/v1/video/publish",
            headers=auth,
            json={
                "upload_id": init.json()["upload_id"],
                "title": title,
                "is_aigc": True,
                "product_id": "bench-cup",
                "ad_disclosure": True,
                "external_info": title,
            },
        )
        if published.status_code != 200:
            raise SystemExit(f"publish refused: {published.text}")

    return job


def baseline_job(data: bytes) -> Callable[[httpx.Client], None]:
    def job(client: httpx.Client) -> None:
        client.put("/upload", content=data).raise_for_status()

    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=300, help="timed uploads (bounded request count)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent client connections")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        import uvicorn

        uvicorn.run(baseline_app(), host="127.0.0.1", port=args.serve_baseline, log_level="warning", access_log=False)
        return

    with tempfile.TemporaryDirectory(prefix="mcn-bench-sandbox-") as tmp:
        run_bench(args, Path(tmp))


def run_bench(args: argparse.Namespace, workdir: Path) -> None:
    """Generate the videos in ``workdir``, measure the sandbox, then the baseline, and print both."""
    warmup = 10
    t0 = time.perf_counter()
    (workdir / "videos").mkdir()
    videos = make_videos(workdir / "videos", args.uploads + warmup)
    bodies = [p.read_bytes() for p in videos]
    print(
        f"generated {len(videos)} videos ({statistics.mean(len(b) for b in bodies) / 1024:.0f} KiB on average) "
        f"in {time.perf_counter() - t0:.1f} s"
    )

    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(workdir / "sandbox"),
        "--clock",
        "manual",
        "--daily-cap",
        "1000000",
        "--min-interval",
        "0",
    ]
    with server(argv, port) as url:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        httpx.post(
            f"{url}/api/admin/products",
            headers=admin,
            json={"product_id": "bench-cup", "name": "bench cup", "price": 59.0, "commission_rate": 0.2},
        ).raise_for_status()
        tokens = [
            httpx.post(f"{url}/api/admin/accounts", headers=admin, json={}).json()["api_token"]
            for _ in range(args.accounts)
        ]
        jobs = [sandbox_upload_job(tokens[i % len(tokens)], body, f"bench {i}") for i, body in enumerate(bodies)]
        timed_run(jobs[:warmup], args.clients, url)
        elapsed, latencies = timed_run(jobs[warmup:], args.clients, url)
        accepted = len(httpx.get(f"{url}/api/admin/posts", headers=admin).json()["posts"]) - warmup
    rate = args.uploads / elapsed
    p50, p95 = (statistics.quantiles(latencies, n=20)[i] * 1000 for i in (9, 18))

    port = free_port()
    with server([sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port)], port) as url:
        jobs = [baseline_job(body) for body in bodies]
        timed_run(jobs[:warmup], args.clients, url)
        base_elapsed, _ = timed_run(jobs[warmup:], args.clients, url)
    base_rate = args.uploads / base_elapsed

    print(
        f"sandbox : {args.uploads} uploads (init + PUT + publish, {3 * args.uploads} requests) in {elapsed:.2f} s"
        f" = {rate:.1f} uploads/s; latency per upload p50 {p50:.0f} ms, p95 {p95:.0f} ms; {accepted} accepted"
    )
    print(
        f"baseline: {args.uploads} bare FastAPI PUTs reading the same bodies in {base_elapsed:.2f} s"
        f" = {base_rate:.1f} uploads/s"
    )
    print(f"ratio sandbox/baseline: {rate / base_rate:.2f}   ({os.cpu_count()} CPUs, {args.clients} clients)")
    target = 50.0
    print(f"target >= {target:.0f} uploads/s: {'met' if rate >= target else 'NOT met'}")
    if accepted != args.uploads:
        raise SystemExit(f"only {accepted} of {args.uploads} uploads were accepted")


if __name__ == "__main__":
    main()
