"""A profile that starts 49 times out of 50 is a broken profile. Each image of the kinds the
examples use (busybox; Redis; PostgreSQL, which runs as USER postgres; a Python app) is recorded
by the examples' own tests in each mode (by default: starts with or without no-new-privileges;
--seccomp-nnp: made for it), then started N times in a row under its profile, as users deploy
it (`docker run --security-opt seccomp=...`, with no-new-privileges in the NNP mode, and for the
default mode also without), and must come up every time.

    python3 benchmarks/bench_stability.py [--starts 50] [--args sockets|all|...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts

ROOT = Path(__file__).resolve().parent.parent
# image -> (profile file under the profile directory, command, what "up" means)
IMAGES = {
    "busybox": ("listing.json", ["ls", "/"], "exit 0"),
    "redis": ("pytest-seccomp/redis.json", [], "Ready to accept connections"),
    "postgres": ("pytest-seccomp/postgres.json", [], "ready to accept connections"),
    "python app": ("pytest-seccomp/webapp.json", [], "/health"),
}
REFERENCE = {"busybox": "pytest-seccomp/busybox:latest", "redis": "pytest-seccomp/redis:latest",
             "postgres": "pytest-seccomp/postgres:latest",
             "python app": "pytest-seccomp/webapp:latest"}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def record(mode: str, into: Path, arguments: str = "sockets") -> Path:
    """Record examples/listing and examples/webapp in `mode` with `--seccomp-args=arguments`;
    returns the profile directory."""
    profiles = into / f"profiles-{mode}"
    flags = [f"--seccomp-args={arguments}", *(["--seccomp-nnp"] if mode == "nnp" else [])]
    for example in ("listing", "webapp"):
        project = into / f"{example}-{mode}"
        shutil.copytree(ROOT / "examples" / example, project,
                        ignore=shutil.ignore_patterns("seccomp-profiles*", "__pycache__", "html"))
        subprocess.run([sys.executable, "-m", "pytest", "-q", "--seccomp-record", *flags,
                        "--seccomp-profile-dir", str(profiles)], cwd=project, check=True,
                       capture_output=True)
    return profiles


def came_up(container: str, ready: str) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} "
                       "{{.NetworkSettings.IPAddress}}", container, check=False).stdout.split()
        if not state:
            return False
        if ready == "exit 0":
            if state[0] == "exited":
                return state[1] == "0"
        elif state[0] != "running":
            return False
        elif ready == "/health":
            try:
                with urllib.request.urlopen(f"http://{state[2]}:8000/health", timeout=1):
                    return True
            except OSError:
                pass
        elif ready in docker("logs", container, check=False).stdout + \
                docker("logs", container, check=False).stderr:
            return True
        time.sleep(0.1)
    return False


def starts(profile: Path, image: str, command: list[str], ready: str, nnp: bool,
           count: int) -> int:
    """How many of `count` starts came up under `profile`."""
    good = 0
    for _ in range(count):
        opts = ["--security-opt", f"seccomp={profile}"]
        if nnp:
            opts += ["--security-opt", "no-new-privileges"]
        run = docker("run", "-d", *opts, image, *command, check=False)
        container = run.stdout.strip()
        if run.returncode == 0 and came_up(container, ready):
            good += 1
        else:
            print(f"    failed start: {run.stderr.strip()[-200:]}")
        if container:
            docker("rm", "-f", container, check=False)
    return good


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--args", default="sockets", help="the recordings' --seccomp-args")
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    print(f"profiles recorded with --seccomp-args={args.args}")
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {mode: record(mode, Path(tmp), args.args) for mode in ("default", "nnp")}
        print(f"\nstarts that came up, of {args.starts} in a row, under the recorded profile:")
        print(f"{'image':<12} {'default, plain run':>20} {'default, with NNP':>18} "
              f"{'--seccomp-nnp, NNP':>19}")
        for name, (file, command, ready) in IMAGES.items():
            image = REFERENCE[name]
            cells = [starts(dirs["default"] / file, image, command, ready, False, args.starts),
                     starts(dirs["default"] / file, image, command, ready, True, args.starts),
                     starts(dirs["nnp"] / file, image, command, ready, True, args.starts)]
            print(f"{name:<12} {cells[0]:>17}/{args.starts} {cells[1]:>15}/{args.starts} "
                  f"{cells[2]:>16}/{args.starts}")


if __name__ == "__main__":
    main()
