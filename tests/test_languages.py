"""Language runtimes, end to end: examples/languages (Go, Node.js, JVM services, 50 requests at
once) recorded and enforced strictly with no refusal; a refusal made by a named thread is
explained with the thread and its process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import example_copy

IMAGES = ("pytest-seccomp/go:latest", "pytest-seccomp/node:latest", "pytest-seccomp/jvm:latest")


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:randomly", *args], cwd=project, capture_output=True,
                          text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def languages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_copy("languages", tmp_path_factory.mktemp("languages"), IMAGES,
                        ignore=("seccomp-profiles*",))


def test_go_node_and_jvm_services_are_recorded_and_enforced_strictly_with_no_refusal(languages):
    recorded = _pytest(languages, "--seccomp-record", "--seccomp-report", "record.json")
    assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-2000:]
    report = json.loads((languages / "record.json").read_text())
    assert report["complete"], report
    for name in ("go", "node", "jvm"):
        profile = report["profiles"][f"pytest-seccomp/{name}"]
        assert profile["containers"], profile
        assert {"futex", "read", "write"} <= set(profile["syscalls"]), (name, profile["syscalls"])
    # each runtime's own threads: the Go scheduler's, the JVM's GC/JIT, libuv's and V8's
    assert "clone" in report["profiles"]["pytest-seccomp/go"]["syscalls"]
    # executable memory as each runtime asks for it as it starts: the JVM maps its code cache
    # writable and executable (nothing filtered), V8 flips pages with mprotect but never maps
    # them writable and executable, a static Go program never asks
    memory = {name: report["profiles"][f"pytest-seccomp/{name}"]["executable_memory"]
              for name in ("go", "node", "jvm")}
    assert memory["jvm"] is None, memory
    assert memory["node"]["allowed"] == ["mmap(PROT_EXEC)", "mprotect(PROT_EXEC)",
                                         "mprotect(PROT_WRITE|PROT_EXEC)"], memory
    assert "mmap(PROT_WRITE|PROT_EXEC)" in memory["node"]["refused"], memory
    assert memory["go"]["allowed"] == [], memory
    for run in range(2):
        enforced = _pytest(languages, "--seccomp-enforce", "--seccomp-strict")
        assert enforced.returncode == 0, (run, enforced.stdout[-3000:] + enforced.stderr[-2000:])
        assert "14 passed" in enforced.stdout or "13 passed" in enforced.stdout, enforced.stdout
        assert "refused in" not in enforced.stdout, enforced.stdout


NAMED_THREAD = """
import docker

SCRIPT = '''
import ctypes, os, threading
def work():
    ctypes.CDLL(None).prctl(15, b"io-worker", 0, 0, 0)  # PR_SET_NAME, as runtimes name threads
    if os.environ.get("MAKE"):
        os.mkdir(os.environ["MAKE"])
thread = threading.Thread(target=work)
thread.start()
thread.join()
'''

def run(**env):
    return docker.from_env().containers.run("pytest-seccomp/webapp:latest",
                                            ["python3", "-c", SCRIPT], environment=env,
                                            remove=True, network_mode="none")

def test_quiet():
    run()

def test_makes():
    run(MAKE="/made")
"""


def test_a_refusal_by_a_named_thread_names_the_thread_and_its_process(pytester):
    pytester.makepyfile(test_thread=NAMED_THREAD)
    recorded = pytester.runpytest_subprocess("--seccomp-record", "-p", "no:randomly",
                                             "-k", "quiet")
    assert recorded.ret == 0, recorded.stdout.str()[-3000:]
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-strict",
                                             "-p", "no:randomly", "-k", "makes")
    assert enforced.ret == 1, enforced.stdout.str()[-3000:]
    enforced.stdout.fnmatch_lines(["  mkdir  x1  by thread 'io-worker' of process 'python3'*"])
