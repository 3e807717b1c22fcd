"""The session's one eBPF tracer: a bpftrace process counting syscalls per cgroup in BPF maps.

Knows nothing of pytest or Docker. Syscalls are counted in the kernel (maps lose nothing, unlike
an event stream) and read back on demand: the tracer process calls getppid(), and a probe on that
syscall, for that process only, prints every map and a marker. (SIGUSR1 also prints the maps, but
bpftrace notices it only at its next 100 ms poll timeout; an event wakes it at once.)
Only syscalls that passed a seccomp filter are counted (`seccomp.mode == 2`), so the runtime's
own set-up (mount, pivot_root, ...), made before the filter exists, never appears.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import TracerError

TRACEFS = Path("/sys/kernel/tracing")
MAP_KEYS_MAX = 65536  # (container, syscall) pairs per session; --seccomp-map-size changes it
STRLEN = 128  # a cgroup path like /docker/<64 hex> must fit whole

# Fixed text: nothing from the user or the tests is ever put into the program. BEGIN puts one
# entry in every map so that each map dump prints all of them (an empty map prints nothing).
_COMMON = r"""
BEGIN {
  @cgroup_path[0] = "(begin)"; @syscalls[0] = SEEN; @refused[0, 0, "(begin)"] = count();
  @compat_exec[0] = count(); printf("begin\n");
}
tracepoint:cgroup:cgroup_mkdir /args->root == 0/ { @cgroup_path[args->id] = str(args->path); }
tracepoint:syscalls:sys_enter_getppid /pid == TRIGGER_PID/ {
  print(@cgroup_path); print(@syscalls); print(@refused); print(@compat_exec); printf("dumped\n");
}
"""
# x86_64: a 32-bit binary sets TS_COMPAT at exec; its syscall numbers are another table's.
_COMPAT_X86 = r"""
tracepoint:sched:sched_process_exec /curtask->thread_info.status & 2/ { @compat_exec[cgroup] = count(); }
"""
# Record: note each syscall that passed a seccomp filter. The hot map has one u64 key,
# (cgroup id << 32) | syscall nr: hashing 8 bytes instead of 16 is measurably cheaper. By default
# a key is written only when absent (one lookup per syscall, measured 1.45x on a 2M-syscall dd
# against 1.65x for count()); --seccomp-count-calls counts every call.
_RECORD_SEEN = r"""
tracepoint:raw_syscalls:sys_enter /curtask->seccomp.mode == 2/ {
  $key = (cgroup << 32) | args->id;
  if (@syscalls[$key] == 0) { @syscalls[$key] = 1; }
}
"""
_RECORD_COUNT = r"""
tracepoint:raw_syscalls:sys_enter /curtask->seccomp.mode == 2/ {
  @syscalls[(cgroup << 32) | args->id] = count();
}
"""
# Enforce: sys_enter never fires for a syscall seccomp refused, sys_exit does, with ret = minus the
# profile's errno (EPERM for Docker's default, ENOSYS for Podman's).
# Cheapest test first; id -1 is the exit of rt_sigreturn, whose restored value may look like -1.
_ENFORCE = r"""
tracepoint:raw_syscalls:sys_exit /args->ret == -ERRNO && args->id >= 0 && curtask->seccomp.mode == 2/ {
  @refused[cgroup, args->id, comm] = count();
}
"""
_HANDSHAKE_NR = {"x86_64": 110, "aarch64": 173}  # getppid, refused in the handshake child
MAPS = ("@cgroup_path", "@syscalls", "@refused", "@compat_exec")
_DUMPED = "(dump complete)"


def program(mode: str, machine: str, count_calls: bool = False, errno: int = 1,
            trigger_pid: int = 1) -> str:
    """The bpftrace program for `mode` ("record" or "enforce") on this architecture; `errno` is
    the refusing errno enforce watches for, `trigger_pid` the process whose getppid() dumps the
    maps (integers, checked: nothing else ever enters the text)."""
    for name, value, top in (("errno", errno, 4095), ("trigger_pid", trigger_pid, 1 << 22)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise TracerError(f"{name} {value!r} is not a valid number (1-{top})")
    text = _COMMON.replace("SEEN", "count()" if count_calls else "1")
    text = text.replace("TRIGGER_PID", str(trigger_pid))
    text += _COMPAT_X86 if machine == "x86_64" else ""
    if mode == "enforce":
        return text + _ENFORCE.replace("ERRNO", str(errno))
    return text + (_RECORD_COUNT if count_calls else _RECORD_SEEN)


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counts since the tracer started, per cgroup v2 id."""

    counts: Mapping[tuple[int, int], int]  # (cgroup, syscall nr) -> calls that passed the filter
    cgroup_paths: Mapping[int, str]
    refused: Mapping[tuple[int, int, str], int] = field(default_factory=dict)  # (cgroup, nr, comm)
    compat_execs: Mapping[int, int] = field(default_factory=dict)  # cgroup -> 32-bit execs


def cgroup2_mount() -> Path:
    """Where the unified (v2) hierarchy is mounted: the one the `cgroup` builtin reports."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    raise TracerError(
        "no cgroup2 (unified) hierarchy is mounted, so the tracer cannot tell containers apart; "
        "mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) or boot with cgroup v2."
    )


def ensure_tracefs() -> None:
    """bpftrace finds tracepoints through tracefs; a fresh machine may not have it mounted."""
    if (TRACEFS / "events").is_dir():
        return
    try:
        TRACEFS.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                                capture_output=True, text=True, check=False)
        why = result.stderr.strip() or "no events directory after mounting"
    except OSError as exc:
        why = f"cannot create {TRACEFS}: {exc.strerror}"
    if not (TRACEFS / "events").is_dir():
        raise TracerError(
            f"tracefs is not mounted at {TRACEFS} and mounting it failed ({why}); bpftrace finds "
            f"tracepoints there. Run `mount -t tracefs nodev {TRACEFS}` as root and try again."
        )


def check_prerequisites(bpftrace: str = "bpftrace") -> str:
    """Everything the tracer needs, checked before any test runs; returns bpftrace's path."""
    if os.geteuid() != 0:
        raise TracerError(
            "recording seccomp profiles needs root: the eBPF tracer attaches to kernel "
            "tracepoints. Run pytest as root (e.g. in the CI container, or with sudo)."
        )
    path = shutil.which(bpftrace)
    if path is None:
        raise TracerError(
            f"'{bpftrace}' was not found on PATH; the recorder traces syscalls with it. "
            "Install it (`apt-get install bpftrace`) and try again."
        )
    if not Path("/sys/kernel/btf/vmlinux").exists():
        raise TracerError(
            "the kernel exposes no BTF (/sys/kernel/btf/vmlinux), which the tracer needs to read "
            "a task's seccomp mode; use a kernel built with CONFIG_DEBUG_INFO_BTF=y."
        )
    ensure_tracefs()
    cgroup2_mount()
    return path


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel kills bpftrace if pytest dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Tracer:
    """One bpftrace process for the whole session. start() early, wait_ready() before use."""

    def __init__(self, mode: str = "record", count_calls: bool = False,
                 bpftrace: str = "bpftrace", map_size: int = MAP_KEYS_MAX, errno: int = 1) -> None:
        self.mode = mode
        self.errno = errno
        self.count_calls = count_calls
        self.map_size = int(map_size)  # an integer, never text, reaches bpftrace's environment
        self._bpftrace = bpftrace
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._maps: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._dump_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._ready = False
        self._begun = threading.Event()  # BEGIN ran: the program is loaded
        self._problems: list[str] = []
        self.started_at = 0.0
        self.ready_after = 0.0

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Launch bpftrace; returns at once (its BTF parsing takes about a second)."""
        path = check_prerequisites(self._bpftrace)
        env = dict(os.environ, BPFTRACE_STRLEN=str(STRLEN), BPFTRACE_MAP_KEYS_MAX=str(self.map_size))
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="pytest-seccomp-bpftrace")
        self.started_at = time.monotonic()
        self._proc = subprocess.Popen(
            [path, "-f", "json", "-e",
             program(self.mode, platform.machine(), self.count_calls, self.errno, os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=env, preexec_fn=_die_with_parent, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="pytest-seccomp-tracer", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = message.get("type")
            if kind == "map":
                self._maps.put(message["data"])
            elif kind == "printf":
                if str(message.get("data", "")).startswith("dumped"):
                    self._maps.put({_DUMPED: True})
                else:
                    self._begun.set()
            elif kind == "lost_events":
                self._problems.append(f"bpftrace lost {message.get('data', {}).get('events')} events")
        self._maps.put(None)  # EOF: the process is gone
        self._begun.set()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().splitlines()
                 if ln.strip() and "RLIMIT_MEMLOCK" not in ln]
        return " | ".join(lines[-5:])

    def _died(self, when: str) -> TracerError:
        code = self._proc.poll() if self._proc else None
        detail = self._stderr_tail() or "no output"
        return TracerError(
            f"the seccomp tracer (bpftrace) {when} (exit status {code}; it said: {detail}). "
            "The recording is incomplete, so no profile is written. Check that the kernel allows "
            "eBPF tracepoints (root, tracefs, BTF) and run again."
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Prove the probes are live with a handshake: a seccomp-confined child in a cgroup of
        our own makes syscalls, and the next map dump must show them under that cgroup."""
        if self._ready:
            return
        if self._proc is None:
            raise TracerError("the tracer was never started")
        root = cgroup2_mount()
        deadline = time.monotonic() + timeout
        self._begun.wait(timeout)
        attempt = 0
        while time.monotonic() < deadline:
            if not self.alive:
                raise self._died("exited while starting")
            attempt += 1
            cgroup = root / f"pytest-seccomp-handshake-{os.getpid()}-{attempt}"
            cgroup.mkdir()
            try:
                _run_confined_in(cgroup, self.errno)
                snapshot = self.dump(timeout=1.0, _handshake=True)
            except TracerError:
                if not self.alive:
                    raise
                continue  # the probes are not attached yet: the trigger went unseen
            finally:
                cgroup.rmdir()
            ids = [cg for cg, p in snapshot.cgroup_paths.items() if p == "/" + cgroup.name]
            if ids and self._handshake_seen(snapshot, ids[0]):
                self._ready = True
                self.ready_after = time.monotonic() - self.started_at
                return
            time.sleep(0.1)
        raise TracerError(
            f"the seccomp tracer did not see its handshake within {timeout:.0f} s: its probes are "
            f"not live ({self._stderr_tail() or 'bpftrace printed nothing'}). No container was "
            "started; check `bpftrace -l 'tracepoint:raw_syscalls:*'` works on this machine."
        )

    def _handshake_seen(self, snapshot: Snapshot, cgroup_id: int) -> bool:
        if self.mode == "record":
            return any(cg == cgroup_id for cg, _ in snapshot.counts)
        nr = _HANDSHAKE_NR.get(platform.machine())
        return any(cg == cgroup_id and n == nr for cg, n, _ in snapshot.refused)

    def dump(self, timeout: float = 30.0, _handshake: bool = False) -> Snapshot:
        """Read every map now. Anything counted before this call is in the result."""
        if not _handshake and not self._ready:
            self.wait_ready()
        with self._dump_lock:
            if not self.alive:
                raise self._died("is no longer running")
            while not self._maps.empty():  # the rest of a dump an earlier call gave up on
                if self._maps.get_nowait() is None:
                    raise self._died("is no longer running")
            os.getppid()  # the trigger: the probe prints every map, then "dumped"
            got: dict[str, Any] = {}
            deadline = time.monotonic() + timeout
            while _DUMPED not in got or not set(MAPS) <= set(got):
                try:
                    data = self._maps.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    raise TracerError(
                        f"the seccomp tracer did not answer a map dump within {timeout:.0f} s; "
                        "it is stuck or overloaded, so the recording is incomplete."
                    ) from None
                if data is None:
                    raise self._died("exited during a map dump")
                got.update(data)
        if self._problems:
            raise TracerError("; ".join(self._problems) + ": the recording is incomplete.")
        counts = {}
        for key, value in got["@syscalls"].items():
            packed = int(key)
            counts[(packed >> 32, packed & 0xFFFFFFFF)] = int(value)
        fullest = max(len(counts), len(got["@cgroup_path"]), len(got["@refused"]))
        if fullest >= self.map_size - 1:
            raise TracerError(
                f"the tracer's map is full ({self.map_size} entries): later syscalls could not be "
                "counted, so the recording is incomplete. Raise --seccomp-map-size, or record "
                "fewer containers per session."
            )
        paths = {int(k): str(v) for k, v in got["@cgroup_path"].items()}
        refused = {}
        for key, value in got["@refused"].items():
            cg, nr, comm = key.split(",", 2)  # comm last: it may itself contain a comma
            refused[(int(cg), int(nr), comm)] = int(value)
        compat = {int(k): int(v) for k, v in got["@compat_exec"].items() if int(k) != 0}
        return Snapshot(counts=counts, cgroup_paths=paths, refused=refused, compat_execs=compat)

    def stop(self) -> None:
        """End bpftrace; never leaves it running past the session."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            # Everything worth having was read by the last dump. bpftrace 0.17 may sit on
            # SIGTERM/SIGINT for seconds; SIGKILL is immediate, and the kernel detaches the
            # probes and frees the maps when the process's file descriptors close.
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _run_confined_in(cgroup: Path, errno: int) -> None:
    """Run `true` inside `cgroup` under a seccomp filter (mode 2), as containers are; the filter
    refuses getppid with EPERM, which the child calls once."""
    import pyseccomp

    procs = cgroup / "cgroup.procs"

    def enter() -> None:
        with open(procs, "w", encoding="ascii") as handle:
            handle.write("0")
        handshake = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        handshake.add_rule(pyseccomp.ERRNO(errno), "getppid")  # a refusal, seen by enforce mode
        handshake.load()
        os.getppid()

    subprocess.run(["true"], preexec_fn=enter, check=True)
