"""Load on `viewfinder serve`: N concurrent clients for a bounded time against indexed videos,
then a restart in the middle of an index job.

    python bench/serve_bench.py [--clients 4] [--seconds 30] [--videos A.mp4 B.mp4]

Part 1 starts the real server (a subprocess, real models) on a loopback port, indexes the
videos through index jobs (cached after the first run), then runs N client threads that
each loop over list / video / search / media-range / ask requests until the time is up.
It prints requests served, errors (any non-2xx or transport failure), p50 / p95 latency per
request kind, and the server's peak RSS.

Part 2 queues an index job for a longer video on a fresh cache, kills the server (SIGKILL)
once the job has checkpointed work, starts a new server on the same cache and checks that
the job is queued again and finishes, resuming from the checkpoints instead of starting over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "media"
DEFAULT_VIDEOS = [REPO / "media" / "sample.mp4", SHARED / "channel_ident_slides.mp4"]
LONG_VIDEO = SHARED / "wanna_work_together.mp4"
QUERIES = ["ls /usr", "hello world", "left surround", "front centre", "terminal"]
QUESTIONS = ["What command is typed in the terminal?", "Which channel is named first?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m viewfinder serve` as a subprocess on a free loopback port."""

    def __init__(self, root: Path, cache: Path, extra: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, VIEWFINDER_CACHE=str(cache), PYTHONPATH=str(REPO))
        args = [sys.executable, "-m", "viewfinder", "serve", "--root", str(root)]
        args += ["--port", str(self.port), *(extra or [])]
        self.proc = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_job(client: httpx.Client, job_id: str, until=None, timeout: float = 3600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled") or (until and until(job)):
            return job
        time.sleep(0.5)
    raise TimeoutError(job_id)


def index_all(client: httpx.Client) -> dict[str, str]:
    ids = {v["path"]: v["id"] for v in client.get("/videos").json()}
    for path, vid in ids.items():
        t0 = time.monotonic()
        job = wait_job(client, client.post(f"/videos/{vid}/index").json()["id"])
        print(f"  indexed {path}: {job['state']} in {time.monotonic() - t0:.1f} s", flush=True)
        if job["state"] != "done":
            raise RuntimeError(f"{path}: {job['error']}")
    return ids


def client_loop(
    url: str, ids: list[str], stop: float, seed: int, out: dict, ask_every: int
) -> None:
    with httpx.Client(base_url=url, timeout=600) as client:
        i = seed
        while time.monotonic() < stop:
            vid = ids[i % len(ids)]
            query = QUERIES[i % len(QUERIES)]
            requests = [
                ("list", lambda: client.get("/videos")),
                ("video", lambda vid=vid: client.get(f"/videos/{vid}")),
                ("search", lambda q=query: client.get("/search", params={"q": q})),
                (
                    "media 1MiB",
                    lambda vid=vid: client.get(
                        f"/videos/{vid}/media", headers={"Range": "bytes=0-1048575"}
                    ),
                ),
            ]
            if ask_every and i % ask_every == 0:
                q = QUESTIONS[i % len(QUESTIONS)]
                requests.append(
                    (
                        "ask",
                        lambda vid=vid, q=q: client.post(
                            "/ask", json={"video": vid, "question": q}
                        ),
                    )
                )
            for kind, call in requests:
                if time.monotonic() >= stop:
                    break
                t0 = time.perf_counter()
                try:
                    ok = call().status_code < 300
                except httpx.HTTPError:
                    ok = False
                out.setdefault(kind, []).append((time.perf_counter() - t0, ok))
            i += 1


def load_test(args: argparse.Namespace, work: Path) -> None:
    root = work / "library"
    root.mkdir(exist_ok=True)
    for video in args.videos:
        if not (root / video.name).exists():
            shutil.copy(video, root / video.name)
    server = Server(root, args.cache, ["--max-waiting", str(args.clients + 2)])
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            ids = list(index_all(client).values())
        stop = time.monotonic() + args.seconds
        results: list[dict] = [{} for _ in range(args.clients)]
        threads = [
            threading.Thread(
                target=client_loop,
                args=(server.url, ids, stop, n, results[n], args.ask_every),
            )
            for n in range(args.clients)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        rss = server.peak_rss_mb()
    finally:
        server.stop()
    merged: dict[str, list[tuple[float, bool]]] = {}
    for r in results:
        for kind, rows in r.items():
            merged.setdefault(kind, []).extend(rows)
    print(
        f"\n{args.clients} clients for {args.seconds:.0f} s ({wall:.0f} s wall incl. the last "
        f"asks), {len(ids)} indexed videos, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'request':<12}{'served':>8}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}")
    total = errors = 0
    for kind, rows in merged.items():
        times = sorted(t for t, _ in rows)
        bad = sum(1 for _, ok in rows if not ok)
        total, errors = total + len(rows), errors + bad
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"{kind:<12}{len(rows):>8}{bad:>8}{statistics.median(times) * 1000:>10.0f}"
            f"{p95 * 1000:>10.0f}"
        )
    print(f"{'all':<12}{total:>8}{errors:>8}")
    print(f"server peak RSS: {rss:.0f} MB")


def restart_test(args: argparse.Namespace, work: Path) -> None:
    root = work / "restart-library"
    root.mkdir(exist_ok=True)
    shutil.copy(args.long_video, root / args.long_video.name)
    cache = work / "restart-cache"
    shutil.rmtree(cache, ignore_errors=True)
    server = Server(root, cache)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        vid = client.get("/videos").json()[0]["id"]
        job = client.post(f"/videos/{vid}/index").json()
        t0 = time.monotonic()

        def checkpointed(j: dict) -> bool:  # a speech chunk or screen-text frames saved
            stages = j["stages"]
            return (
                stages.get("speech", {}).get("done", 0) > 0
                or stages.get("screen text", {}).get("done", 0) > 10
            )

        before = wait_job(client, job["id"], until=checkpointed)
    killed_after = time.monotonic() - t0
    server.stop(signal.SIGKILL)
    print(
        f"\nrestart: killed the server (SIGKILL) {killed_after:.0f} s into the index job, "
        f"stages then: {before['stages']}"
    )
    server = Server(root, cache)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            t1 = time.monotonic()
            again = client.get(f"/jobs/{job['id']}").json()
            print(
                f"restart: job {job['id']} after restart: {again['state']}, resumed={again['resumed']}"
            )
            done = wait_job(client, job["id"])
            work_done = (done.get("result") or {}).get("work")
            print(
                f"restart: job {done['state']} {time.monotonic() - t1:.0f} s after the restart; "
                f"parts: {work_done}"
            )
            video = client.get(f"/videos/{vid}").json()
            print(f"restart: video indexed={video['indexed']} parts={video['parts']}")
    finally:
        server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--videos", type=Path, nargs="+", default=DEFAULT_VIDEOS)
    p.add_argument("--long-video", type=Path, default=LONG_VIDEO)
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "viewfinder-serve-bench-cache",
        help="index cache of part 1 (kept, so a rerun finds the videos indexed)",
    )
    p.add_argument(
        "--ask-every", type=int, default=3, help="each client asks every Nth loop (0: never)"
    )
    p.add_argument("--skip-restart", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="viewfinder-serve-bench-") as tmp:
        work = Path(tmp)
        load_test(args, work)
        if not args.skip_restart:
            restart_test(args, work)


if __name__ == "__main__":
    main()
