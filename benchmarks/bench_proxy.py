"""What the session's engine proxy costs clients, direct vs through the proxy, alternating:

1. latency of a small API call (`GET /containers/json` through the SDK, keep-alive): median of
   N calls each;
2. wall time per container, `docker run --rm busybox true` through the docker CLI: best and
   median of N;
3. streams: `docker cp` of 256 MiB into and out of a container, and `docker logs` of 100 MiB:
   throughput, best of N.

    python3 benchmarks/bench_proxy.py [--rounds 5] [--calls 500] [--cp-mib 256] [--logs-mib 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts

BUSYBOX = "pytest-seccomp/busybox:latest"


class Quiet:
    """The session's side of the proxy, doing nothing: the proxy's own cost alone."""

    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None: ...
    def after_create(self, api: Any, cid: str, config: dict[str, Any], name: str | None) -> None: ...
    def after_start(self, container_id: str) -> None: ...
    def after_exec_create(self, container_id: str, cmd: Any) -> None: ...
    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None: ...
    def building(self, active: bool) -> None: ...


def timed(cmd: list[str], env: dict[str, str], **kwargs: Any) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    import docker

    from pytest_seccomp.interception.engine import user_engine
    from pytest_seccomp.interception.proxy import EngineProxy

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--cp-mib", type=int, default=256)
    parser.add_argument("--logs-mib", type=int, default=100)
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    direct_url = user_engine()
    proxy = EngineProxy(direct_url, Quiet())
    proxied_url = proxy.start()
    envs = {"direct": {**os.environ, "DOCKER_HOST": direct_url},
            "proxy": {**os.environ, "DOCKER_HOST": proxied_url}}
    try:
        latency: dict[str, list[float]] = {"direct": [], "proxy": []}
        clients = {k: docker.APIClient(base_url=e["DOCKER_HOST"]) for k, e in envs.items()}
        for client in clients.values():
            client.containers()
        for _ in range(args.calls):
            for kind, client in clients.items():
                t0 = time.perf_counter()
                client.containers()
                latency[kind].append((time.perf_counter() - t0) * 1000)
        for client in clients.values():
            client.close()
        print(f"\n1. GET /containers/json, median of {args.calls} (ms):")
        med = {k: statistics.median(v) for k, v in latency.items()}
        print(f"   direct {med['direct']:.3f}  proxy {med['proxy']:.3f}  added "
              f"{med['proxy'] - med['direct']:+.3f} ms (target <= 1 ms)")

        runs: dict[str, list[float]] = {"direct": [], "proxy": []}
        for _ in range(max(args.rounds * 3, 10)):
            for kind, env in envs.items():
                runs[kind].append(timed(["docker", "run", "--rm", BUSYBOX, "true"], env))
        print(f"\n2. docker run --rm busybox true, {len(runs['direct'])} each (s, best / median):")
        for kind, values in runs.items():
            print(f"   {kind:<7} {min(values):.3f} / {statistics.median(values):.3f}")
        added = (statistics.median(runs["proxy"]) - statistics.median(runs["direct"])) * 1000
        print(f"   added per container (medians): {added:+.1f} ms (target <= +5 ms)")

        with tempfile.TemporaryDirectory() as tmp:
            blob = Path(tmp) / "blob"
            with open(blob, "wb") as out:
                for _ in range(args.cp_mib):
                    out.write(os.urandom(1 << 20))
            box = subprocess.run(["docker", "create", BUSYBOX, "true"], env=envs["direct"],
                                 check=True, capture_output=True, text=True).stdout.strip()
            chatty = subprocess.run(
                ["docker", "run", "-d", BUSYBOX, "sh", "-c",
                 f"dd if=/dev/zero bs=1048576 count={args.logs_mib} 2>/dev/null | tr '\\0' 'x' "
                 "| fold -w 1023"], env=envs["direct"], check=True, capture_output=True,
                text=True).stdout.strip()
            subprocess.run(["docker", "wait", chatty], env=envs["direct"], check=True,
                           capture_output=True)
            streams: dict[str, dict[str, list[float]]] = {
                name: {"direct": [], "proxy": []} for name in ("cp in", "cp out", "logs")}
            try:
                for _ in range(args.rounds):
                    for kind, env in envs.items():
                        streams["cp in"][kind].append(
                            timed(["docker", "cp", str(blob), f"{box}:/blob"], env))
                        back = Path(tmp) / f"back-{kind}"
                        streams["cp out"][kind].append(
                            timed(["docker", "cp", f"{box}:/blob", str(back)], env))
                        back.unlink()
                        with open(os.devnull, "wb") as sink:
                            t0 = time.perf_counter()
                            subprocess.run(["docker", "logs", chatty], env=env, check=True,
                                           stdout=sink)
                            streams["logs"][kind].append(time.perf_counter() - t0)
            finally:
                subprocess.run(["docker", "rm", "-f", box, chatty], env=envs["direct"],
                               capture_output=True)
        sizes = {"cp in": args.cp_mib, "cp out": args.cp_mib, "logs": args.logs_mib}
        print(f"\n3. streams, best of {args.rounds} (MiB/s; target: proxy >= 90% of direct):")
        for name, values in streams.items():
            direct = sizes[name] / min(values["direct"])
            proxied = sizes[name] / min(values["proxy"])
            print(f"   {name:<7} {sizes[name]:>4} MiB  direct {direct:8.1f}  proxy "
                  f"{proxied:8.1f}  {proxied / direct:6.1%}")
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
