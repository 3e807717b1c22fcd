"""Faults, bad input and the holes other tracers leave: each tried for real and answered loudly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pytest_seccomp.errors import TracerError
from pytest_seccomp.recording.store import ContainerRecord, Recording
from pytest_seccomp.tracing.tracer import PROGRAMS, Tracer

from .conftest import BUSYBOX, OLD, interruptible, old_profile

LS = f"""
import docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
"""
@pytest.mark.parametrize("place", ["local", "helper"])
def test_a_full_tracer_map_fails_the_recording(pytester, busybox_image, place):
    pytester.makepyfile(test_many=f"""
import docker, pytest

@pytest.mark.parametrize("n", range(5))
def test_ls(n):
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "-l", "/"], remove=True)
""")
    old = old_profile(pytester.path / "seccomp-profiles")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-map-size=4",
                                           f"--seccomp-tracer={place}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ERROR: the tracer's map is full (4 entries)*"])
    assert old.read_text() == OLD


@pytest.fixture
def mounted(tmp_path: Path):
    """Mount points made for one test and undone after it."""
    points: list[Path] = []

    def mount(*args: str, target: Path) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True)
        points.append(target)
        return target

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", str(point)], check=False)


def test_read_only_profile_directory_keeps_old_profiles(pytester, busybox_image, mounted):
    pytester.makepyfile(test_ls=LS)
    directory = pytester.path / "seccomp-profiles"
    old = old_profile(directory)
    mounted("--bind", str(directory), target=directory)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
    result = pytester.runpytest_subprocess("--seccomp-record")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ERROR: cannot write*Read-only file system*intact*"])
    assert old.read_text() == OLD


def test_full_disk_keeps_old_profiles_byte_for_byte(pytester, busybox_image, mounted):
    pytester.makepyfile(test_ls=LS)
    directory = mounted("-t", "tmpfs", "-o", "size=64k", "tmpfs",
                        target=pytester.path / "seccomp-profiles")
    old = old_profile(directory)
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the file system to the last block
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    result = pytester.runpytest_subprocess("--seccomp-record")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ERROR: *No space left on device*"])
    assert old.read_text() == OLD
    assert not [p for p in old.parent.iterdir() if p.name.endswith(".tmp")]


def test_two_sessions_writing_one_directory_never_tear_a_file(pytester, busybox_image):
    pytester.makepyfile(test_a=LS, test_b=LS.replace('["ls", "/"]', '["mkdir", "/x"]'))
    env = dict(os.environ)
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                              "--seccomp-record", name], cwd=pytester.path, env=env,
                             stdout=subprocess.PIPE, text=True)
            for name in ("test_a.py", "test_b.py")]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    profile = json.loads((pytester.path / "seccomp-profiles/pytest-seccomp/busybox.json").read_text())
    names = set(profile["syscalls"][0]["names"])
    assert "getdents64" in names or "mkdir" in names  # one session's profile, whole


def tracer_programs_loaded() -> list[str]:
    """Names of the tracer's eBPF programs loaded anywhere on the machine."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True)
    ours = set(PROGRAMS)
    return [p["name"] for p in json.loads(out.stdout) if p.get("name") in ours]


def test_ctrl_c_writes_nothing_and_leaves_no_tracer(pytester, busybox_image):
    pytester.makepyfile(test_slow=f"""
import docker

def test_slow():
    c = docker.from_env().containers.run("{BUSYBOX}", ["sleep", "30"], detach=True,
                                         labels={{"ctrl-c-test": "1"}})
    c.wait()
""")
    old = old_profile(pytester.path / "seccomp-profiles")
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                            "--seccomp-record"], cwd=pytester.path, stdout=subprocess.PIPE,
                           text=True, preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not subprocess.run(
                ["docker", "ps", "-q", "--filter", "label=ctrl-c-test"],
                capture_output=True, text=True).stdout.strip():
            time.sleep(0.2)
        run.send_signal(signal.SIGINT)
        out = run.communicate(timeout=60)[0]
    finally:
        subprocess.run("docker ps -aq --filter label=ctrl-c-test | xargs -r docker rm -f",
                       shell=True, capture_output=True)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "the session was interrupted" in out
    assert old.read_text() == OLD
    deadline = time.monotonic() + 5  # the kernel frees a program shortly after its last fd
    while tracer_programs_loaded() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tracer_programs_loaded() == []


def test_a_symlink_out_of_the_profile_directory_is_refused(pytester, busybox_image, tmp_path):
    pytester.makepyfile(test_ls=LS)
    outside = tmp_path / "outside"
    outside.mkdir()
    directory = pytester.path / "seccomp-profiles"
    directory.mkdir()
    (directory / "pytest-seccomp").symlink_to(outside)
    result = pytester.runpytest_subprocess("--seccomp-record")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*would resolve outside*refused*"])
    assert list(outside.iterdir()) == []


def test_a_label_cannot_name_a_path_outside_and_the_tracer_takes_integers(pytester, busybox_image):
    pytester.makepyfile(test_label=f"""
import docker

def test_label():
    docker.from_env().containers.run("{BUSYBOX}", ["true"], remove=True,
        labels={{"io.pytest-seccomp.profile": '../x"; system("touch /tmp/pwned") }}'}})
""")
    result = pytester.runpytest_subprocess("--seccomp-record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid seccomp profile name*"])
    assert not (pytester.path / "x.json").exists() and not (pytester.path / "x").exists()
    # the program is compiled from fixed source; its one setting is a checked integer
    with pytest.raises(TracerError, match="not a valid number"):
        Tracer("enforce", errno='1; system("id")').start()  # type: ignore[arg-type]


def test_the_change_counter_says_unchanged_only_when_no_map_moved():
    """Test edges skip the read of every map when the program's change counter has not moved:
    a new syscall, cgroup or refusal moves it; --seccomp-count-calls never skips."""
    tracer = Tracer("record")
    tracer.start()
    try:
        tracer.wait_ready()
        tracer.dump()
        assert tracer.unchanged()
        tracer.dump()
        assert tracer.unchanged()
        assert tracer._loaded is not None  # a confined child in a new cgroup, read by no dump
        tracer._loaded.run_handshake(f"pytest-seccomp-test-changes-{os.getpid()}", 1)
        assert not tracer.unchanged()
        tracer.dump()
        assert tracer.unchanged()
    finally:
        tracer.stop()
    counting = Tracer("record", count_calls=True)
    counting.start()
    try:
        counting.wait_ready()
        counting.dump()
        assert not counting.unchanged()
    finally:
        counting.stop()


@pytest.mark.parametrize("mode", ["record", "enforce"])
def test_the_handshake_confines_a_thread_that_ends_never_the_process(mode):
    """The handshake proves the programs with a seccomp filter on a thread of its own: after
    it, no thread of the process is confined and getppid answers."""
    tracer = Tracer(mode, errno=38)
    tracer.start()
    try:
        tracer.wait_ready()
    finally:
        tracer.stop()
    # (a joined thread's task may linger a moment in its exit on a loaded machine: it must go)
    deadline = time.monotonic() + 5
    while True:
        confined = []
        for task in os.listdir("/proc/self/task"):
            try:
                status = Path(f"/proc/self/task/{task}/status").read_text()
            except OSError:  # gone meanwhile
                continue
            if "\nSeccomp:\t0\n" not in status:
                confined.append((task, status))
        if not confined or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not confined, confined
    assert os.getppid() > 0


def test_a_tracer_detached_mid_session_fails_it_though_nothing_moved_since(pytester,
                                                                          busybox_image):
    """The change counter stops when the program is detached; the session's last read reads
    every map anyway, and so notices."""
    old = old_profile(pytester.path / "seccomp-profiles")
    pytester.makepyfile(test_app=f"""
import os, docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)

def test_detach_the_tracer():
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{{fd}}") == "anon_inode:bpf_link":
                os.close(int(fd))
        except OSError:
            pass
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-tracer=local")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*the seccomp tracer is no longer attached*"])
    assert old.read_text() == OLD


def test_32_bit_programs_fail_the_recording_instead_of_being_misnamed(pytester, busybox_image):
    pytester.makepyfile(test_compat="""
import docker

def test_compat():
    out = docker.from_env().containers.run("pytest-seccomp/hello32:latest", remove=True)
    assert out == b"hello from 32 bits\\n"
""")
    result = pytester.runpytest_subprocess("--seccomp-record")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ran a 32-bit (compat) program*misnamed*"])
    assert not (pytester.path / "seccomp-profiles").exists()


def test_io_uring_is_reported(pytester, busybox_image):
    pytester.makepyfile(test_uring="""
import docker

CODE = ("import ctypes; p = ctypes.create_string_buffer(120); "
        "print(ctypes.CDLL(None).syscall(425, 4, p))")

def test_uring():
    docker.from_env().containers.run("pytest-seccomp/webapp:latest", ["python3", "-c", CODE],
                                     remove=True)
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-report=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["io_uring: pytest-seccomp/webapp uses io_uring; *bypass*"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["profiles"]["pytest-seccomp/webapp"]["io_uring"] is True


def test_an_unknown_syscall_number_is_reported_not_dropped():
    recording = Recording()
    recording.add(ContainerRecord(id="c" * 64, name="app", image="app", profile="app",
                                  test="t", started=True, cgroups={7},
                                  counts=Counter({0: 3, 99_999: 1})))
    assert recording.names(recording.containers["c" * 64].counts) == Counter({"read": 3})
    recording.check_complete()
    assert any("syscall number 99999" in p for p in recording.problems)


def test_no_compiler_for_the_tracer_is_a_one_paragraph_usage_error(pytester, tmp_path):
    pytester.makepyfile(test_x="def test_x(): pass")
    env = dict(os.environ, PATH="/nonexistent", XDG_CACHE_HOME=str(tmp_path / "empty-cache"))
    run = subprocess.run([sys.executable, "-m", "pytest", "--seccomp-record"], cwd=pytester.path,
                         env=env, capture_output=True, text=True)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "clang was not found on PATH" in run.stderr
    assert "apt-get install clang libbpf-dev" in run.stderr and "Traceback" not in run.stderr


def test_a_corrupt_compiled_tracer_is_a_one_paragraph_usage_error(pytester, tmp_path, monkeypatch):
    from pytest_seccomp.tracing.bpf.build import compiled_object

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled_object().write_bytes(b"not an ELF object")  # the cached build, damaged
    pytester.makepyfile(test_x="def test_x(): pass")
    run = subprocess.run([sys.executable, "-m", "pytest", "--seccomp-record"], cwd=pytester.path,
                         env=dict(os.environ), capture_output=True, text=True)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "libbpf could not open" in run.stderr and "delete it and it is built again" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_a_container_killed_by_a_signal_is_recorded_whole(pytester, busybox_image):
    pytester.makepyfile(test_killed=f"""
import docker

def test_killed_by_signal():
    c = docker.from_env().containers.run("{BUSYBOX}", ["sleep", "30"], detach=True)
    c.kill(signal="SIGKILL")
    assert c.wait()["StatusCode"] == 137
    c.remove()
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-report=r.json")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] is True
    (container,) = report["profiles"]["pytest-seccomp/busybox"]["containers"]
    assert "clock_nanosleep" in container["syscalls"]


def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def test_the_engine_stopping_mid_session_fails_the_recording(pytester, busybox_image):
    pytester.makepyfile(test_engine=f"""
import subprocess, time
import docker

def test_before():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)

def test_engine_stops():
    subprocess.run(["pkill", "-x", "dockerd"], check=True)
    for _ in range(100):
        if subprocess.run(["docker", "info"], capture_output=True).returncode:
            return
        time.sleep(0.1)
    raise AssertionError("dockerd did not stop")

def test_after():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
""")
    old = old_profile(pytester.path / "seccomp-profiles")
    try:
        result = pytester.runpytest_subprocess("--seccomp-record")
    finally:
        subprocess.run(["bash", str(Path(__file__).parent.parent / "scripts" / "setup.sh")],
                       capture_output=True, check=False)
    assert engine_answers()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ERROR: the container engine stopped answering during the "
                                 "session*no profile was written*"])
    assert old.read_text() == OLD


def in_private_mounts(pytester: pytest.Pytester, setup: str) -> subprocess.CompletedProcess[str]:
    """Run `pytest --seccomp-record` in a mount namespace of its own, after `setup` (shell)."""
    script = (f"set -e; keep=$(mktemp -d); mount --bind /sys/kernel/btf $keep; {setup}; "
              f"exec {sys.executable} -m pytest -p no:cacheprovider --seccomp-record")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          cwd=pytester.path, capture_output=True, text=True, check=False)


def test_no_btf_is_a_one_paragraph_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x(): pass")
    run = in_private_mounts(pytester, "mount -t tmpfs none /sys/kernel")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stderr
    assert "the kernel exposes no BTF (/sys/kernel/btf/vmlinux)" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_tracer_needs_no_tracefs(pytester, busybox_image):
    """BTF-typed tracepoints attach by BTF id: a machine without tracefs mounted records fine."""
    pytester.makepyfile(test_ls=LS)
    run = in_private_mounts(pytester, "umount -R /sys/kernel/tracing 2>/dev/null || true; "
                                      "umount -R /sys/kernel/debug 2>/dev/null || true; "
                                      "test ! -e /sys/kernel/tracing/events")
    assert run.returncode == pytest.ExitCode.OK, run.stdout + run.stderr
    profile = json.loads((pytester.path / "seccomp-profiles/pytest-seccomp/busybox.json").read_text())
    assert "getdents64" in profile["syscalls"][0]["names"]


def test_not_root_is_refused_before_anything_starts(monkeypatch):
    from pytest_seccomp.tracing.tracer import check_prerequisites

    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the one thing this test cannot be for real
    with pytest.raises(TracerError, match="--seccomp-tracer=local needs root"):
        check_prerequisites()
