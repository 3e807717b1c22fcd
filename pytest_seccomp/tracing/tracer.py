"""The session's one eBPF tracer: a libbpf-loaded program noting syscalls per cgroup in BPF maps.

Knows nothing of pytest or Docker. Syscalls are noted in the kernel (maps lose nothing, unlike an
event stream) and read back with the bpf() syscall whenever asked, in well under a millisecond.
Only syscalls that passed a seccomp filter are noted (`seccomp.mode == 2`), so the runtime's own
set-up (mount, pivot_root, ...), made before the filter exists, never appears. The program lives
in this process (InProcess) or in a helper container (helper.py) that exits with the session:
either way it is detached when the session ends, however it ends.
See bpf/tracer.bpf.c for why the program has the shape it has.
"""

from __future__ import annotations

import os
import platform
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SeccompError, TracerError
from ..modes import Mode, Place
from ..profiles.arguments import (
    AF_NETLINK,
    TYPED_FAMILIES,
    arg_key,
    family_syscall_numbers,
    socket_value,
)
from ..profiles.protections import protection_syscall_numbers
from .bpf.build import compiled_object
from .bpf.libbpf import COUNTERS, BpfMap, BpfObject, lib
from .contract import Loaded, LoadPlan

# tracer.bpf.c's family_set: socket, socketpair, netlink, types, exec
FAMILY_SET = struct.Struct("=QQQQQ")
MAP_KEYS_MAX = 65536  # containers (cgroups) per session; --seccomp-map-size changes it
SYSCALL_BITS = 512
RUNTIME_FLAG = 1 << 16  # in a counted key (tracer.bpf.c): the runtime made the call
# every program of tracer.bpf.c the plugin attaches (the benchmarks also attach floor_empty)
PROGRAMS = ("record_seen", "record_count", "enforce_refused", "cgroup_made", "exec_noted")
MAPS = ("seen", "calls", "refused", "cgroup_paths", "compat_execs", "families", "exec_paths")
EXEC_PATHS_MAX = 4096  # (container, program) pairs kept for coverage; more are not kept
EXEC_PATH = struct.Struct("=Q248s")  # tracer.bpf.c's struct exec_path
SHORTCUTS = ("seen_cache", "pending_calls")  # sized by tracer.bpf.c where used, else 1 entry
_BACKGROUND_SWITCH_INTERVAL = 0.0005  # s: see Tracer._in_background
_HANDSHAKE_NR = {"x86_64": 110, "aarch64": 173}  # getppid, refused in the handshake child
_PROGRAMS = {  # mode -> programs attached, maps they fill (the others get one entry: no memory)
    "record": (("record_seen", "cgroup_made", "exec_noted"),
               {"seen", "calls", "cgroup_paths", "compat_execs", "families", "seen_cache",
                "exec_paths"}),
    "record-count": (("record_count", "cgroup_made", "exec_noted"),
                     {"calls", "cgroup_paths", "compat_execs", "families", "pending_calls",
                      "exec_paths"}),
    "enforce": (("enforce_refused", "cgroup_made", "exec_noted"),
                {"refused", "cgroup_paths", "compat_execs"}),
}


@dataclass(frozen=True, order=True)
class Caller:
    """Who made a refused call: its thread and that thread's process. Language runtimes make
    their own calls from threads of their own (the JVM's GC and JIT, libuv's pool), and a
    thread's name says which part of the runtime it was."""

    thread: str
    process: str

    def short(self) -> str:
        """`redis-server`, or `C2 CompilerThre of java`: for the summary's one line."""
        if self.thread == self.process or not self.process:
            return self.thread
        return f"{self.thread} of {self.process}"

    def describe(self) -> str:
        """`process 'redis-server'`, or `thread 'C2 CompilerThre' of process 'java'`."""
        if self.thread == self.process or not self.process:
            return f"process {self.thread!r}"
        return f"thread {self.thread!r} of process {self.process!r}"


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counts since the tracer started, per cgroup v2 id."""

    # (cgroup, syscall nr) -> calls (1: seen, not counted); socket's and socketpair's families
    # are there too, as argument keys (arguments.arg_key) seen once
    counts: Mapping[tuple[int, int], int]
    cgroup_paths: Mapping[int, str]
    # (cgroup, nr or argument key, comm) -> refusals
    refused: Mapping[tuple[int, int, Caller], int] = field(default_factory=dict)
    compat_execs: Mapping[int, int] = field(default_factory=dict)  # cgroup -> 32-bit execs
    # (cgroup, nr): made by the runtime after it installed the filter, before the app's exec
    runtime: frozenset[tuple[int, int]] = frozenset()
    # cgroup -> the paths its filtered tasks exec'd (record mode; at most EXEC_PATHS_MAX pairs)
    programs: Mapping[int, frozenset[str]] = field(default_factory=dict)


def _settings(errno: int) -> bytes:
    """The program's .data section, whole (tracer.bpf.c: refusal_errno), from a checked integer
    (the errno comes from a profile file)."""
    if not isinstance(errno, int) or isinstance(errno, bool) or not 1 <= errno <= 4095:
        raise TracerError(f"errno {errno!r} is not a valid number (1-4095)")
    return struct.pack("=i", errno)


def cgroup2_mount() -> Path:
    """Where the unified (v2) hierarchy is mounted: the one bpf_get_current_cgroup_id() names."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    raise TracerError(
        "no cgroup2 (unified) hierarchy is mounted, so the tracer cannot tell containers apart; "
        "mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) or boot with cgroup v2."
    )


def check_prerequisites() -> Path:
    """Everything the tracer needs, checked before any test runs; returns the compiled object."""
    if os.geteuid() != 0:
        raise TracerError(
            "--seccomp-tracer=local needs root: the eBPF tracer attaches to kernel "
            "tracepoints. Leave the choice to --seccomp-tracer=auto (the default), which loads "
            "it in a helper container through the engine, or run pytest as root."
        )
    if not Path("/sys/kernel/btf/vmlinux").exists():
        raise TracerError(
            "the kernel exposes no BTF (/sys/kernel/btf/vmlinux), which the tracer needs to "
            "attach to tracepoints and read a task's seccomp mode; use a kernel built with "
            "CONFIG_DEBUG_INFO_BTF=y."
        )
    cgroup2_mount()
    return compiled_object()


def _link_ids(fds: list[int]) -> dict[int, int]:
    """fd -> BPF link id for those of `fds` that are open BPF links."""
    found = {}
    for name in map(str, fds):
        try:
            with open(f"/proc/self/fdinfo/{name}", encoding="ascii", errors="replace") as info:
                text = info.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("link_id:"):
                found[int(name)] = int(line.split()[1])
    return found


class InProcess:
    """The tracer loaded into this process with the system's libbpf (root, on the engine's
    host): detached when the session ends, however it ends."""

    def __init__(self, path: Path, plan: LoadPlan) -> None:
        self.machine = platform.machine()
        try:
            self.object = self._load(path, plan)
        except TracerError:  # again, keeping libbpf's messages to say why
            with lib().messages_kept():
                self.object = self._load(path, plan)
        self._links = _link_ids(self.object.link_fds())  # fd -> link id, to notice a detached program
        self._counters = self.object.map(COUNTERS)
        self._mapped = self.object.mapped_counter(COUNTERS)  # `changes`, read without a call

    @staticmethod
    def _load(path: Path, plan: LoadPlan) -> BpfObject:
        try:
            obj = BpfObject(path)
        except TracerError as exc:
            raise TracerError(f"{exc}. The compiled tracer is cached there: delete it and it is "
                              "built again.") from None
        try:
            obj.select_programs(set(plan.programs))
            for name, entries in plan.sizes.items():
                obj.set_max_entries(name, entries)
            obj.set_settings(plan.settings)
            obj.load()
            for program in plan.programs:
                obj.attach(program)
        except BaseException:
            obj.close()
            raise
        return obj

    def alive(self) -> bool:
        """Every link it attached still open under the same id."""
        now = _link_ids(list(self._links))
        return all(now.get(fd) == link for fd, link in self._links.items())

    def tables(self, names: Sequence[str]) -> tuple[bool, dict[str, list[tuple[bytes, bytes]]]]:
        alive = self.alive()
        return alive, ({name: list(self.object.map(name).items()) for name in names}
                       if alive else {})

    def cpus(self, name: str) -> int:
        return self.object.map(name).cpus

    def set_errno(self, errno: int) -> None:
        """The errno a refusal returns, settled after the load (see Tracer.settle)."""
        self.object.write_settings(_settings(errno))

    def changes(self) -> int | None:
        if self._mapped is not None:
            return self._mapped()
        return self._lookup_changes()

    def _lookup_changes(self) -> int | None:
        value = self._counters.lookup(bytes(self._counters.key_size))
        return int.from_bytes(value, "little") if value is not None else None

    def run_handshake(self, cgroup_name: str, errno: int) -> int | None:
        """The new cgroup proves cgroup_made; a thread of this process confined by a filter of
        its own (a filter binds one thread) proves the syscall programs, in this process's
        cgroup: no fork of this process, whose page tables alone cost more than the rest."""
        mount = cgroup2_mount()
        cgroup = mount / cgroup_name
        cgroup.mkdir()
        try:
            _run_confined_thread(errno)
        finally:
            cgroup.rmdir()
        return _own_cgroup_id(mount)

    def close(self) -> None:
        if not self.alive():  # someone closed our links: never close a reused descriptor
            self.object.forget_links()
        self.object.close()


class Tracer:
    """The session's eBPF program. start() loads and attaches it; wait_ready() proves it live."""

    def __init__(self, mode: str = "record", count_calls: bool = False,
                 map_size: int = MAP_KEYS_MAX, errno: int = 1, place: Place = Place.LOCAL,
                 engine: str | None = None) -> None:
        self.mode = mode
        self.errno = errno
        self.count_calls = count_calls
        self.map_size = int(map_size)
        self.place = place  # LOCAL or HELPER (the session resolves AUTO)
        self.engine = engine  # the engine that runs the helper container
        self.run_id = "local"  # labels the helper container as this run's
        self._loaded: Loaded | None = None
        self._ready = False
        self._proving: threading.Thread | None = None  # the background load and handshake
        self._proof_error: BaseException | None = None
        self._settled = threading.Event()  # errno is final: the handshake may run
        self._stopping = False
        self._loaded_errno = errno  # what the loaded program's refusal_errno holds
        self._changes_read: int | None = None  # the program's changes as the last dump saw them
        self._family_nrs = family_syscall_numbers()  # the order of tracer.bpf.c's family_set
        # socket's types and requests for executable memory are noted always; a recording
        # names them only when profiles pin them (--seccomp-args=all), so every other setting
        # reads as it did before they were read
        self.all_arguments = False
        self._memory_nrs = protection_syscall_numbers()  # family_set.exec's slots

    # -- life cycle ----------------------------------------------------------------------------
    def plan(self, errno: int) -> LoadPlan:
        """The programs and map sizes of this mode (maps it does not fill get one entry), and
        `errno` as the program's setting."""
        key = "record-count" if self.mode == "record" and self.count_calls else self.mode
        programs, filled = _PROGRAMS[key]
        sizes = {name: self.map_size if name in filled else 1 for name in MAPS}
        if "exec_paths" in filled:
            sizes["exec_paths"] = EXEC_PATHS_MAX
        sizes.update({name: 1 for name in SHORTCUTS if name not in filled})
        return LoadPlan(programs, sizes, _settings(errno))

    def start(self) -> None:
        """Load and attach the program, here (compiled the first time only: about 0.1 s) or in
        the helper container."""
        self._loaded_errno = errno = self.errno  # (settle() may change it meanwhile)
        plan = self.plan(errno)
        if self.place is Place.HELPER:
            from .helper import HelperTracer

            self._loaded = HelperTracer(self.engine or "unix:///var/run/docker.sock", plan,
                                        self.run_id)
        else:
            self._loaded = InProcess(check_prerequisites(), plan)

    @property
    def loading(self) -> bool:
        """Loading or proving in the background, or loaded (start() or load_soon() ran)."""
        return self._proving is not None or self._loaded is not None

    @property
    def started(self) -> bool:
        """Loaded and attached (an xdist controller never starts one)."""
        return self._loaded is not None

    def map(self, name: str) -> BpfMap:
        """One of the loaded maps (benchmarks fill them; the session reads through dump())."""
        if not isinstance(self._loaded, InProcess):
            raise TracerError("the tracer was never started in this process")
        return self._loaded.object.map(name)

    def _died(self, when: str) -> TracerError:
        return TracerError(
            f"the seccomp tracer {when}: its eBPF program was detached, so syscalls made since "
            "were not seen. The recording is incomplete, so no profile is written; run again."
        )

    def start_soon(self) -> None:
        """Load, attach and prove the program in the background, while pytest collects (the
        load is libbpf reading the kernel's BTF and the verifier: tens of ms); wait_ready()
        waits for it and raises what went wrong."""
        self.load_soon()
        self.settle(self.errno)

    def load_soon(self) -> None:
        """Load and attach in the background now, before the errno is known (the engine is
        still being asked for its default profile); the handshake follows settle()."""
        def start_and_prove() -> None:
            self.start()
            self._settled.wait()
            if self._stopping:
                return
            if self.errno != self._loaded_errno:  # (the helper starts once it is settled)
                assert isinstance(self._loaded, InProcess)
                self._loaded.set_errno(self.errno)
                self._loaded_errno = self.errno
            self._handshake()

        self._in_background(start_and_prove)

    def settle(self, errno: int) -> None:
        """The errno a refusal returns is known (the engine's default profile says it): the
        background load may write it and prove the program."""
        _settings(errno)  # checked here, in the caller's thread
        self.errno = errno
        self._settled.set()

    def _in_background(self, work: Callable[[], None]) -> None:
        if self._ready or self._proving is not None:
            return

        # Each of the work's steps (a libbpf call, the handshake's child) gives the GIL back to
        # a main thread that imports and collects meanwhile, and waits up to the switch interval
        # (5 ms) to get it again: a load of 20 ms took 150. While the work runs the interval is
        # 0.5 ms, which costs the main thread nothing measurable.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _BACKGROUND_SWITCH_INTERVAL))

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # handed to wait_ready, in the main thread
                self._proof_error = exc
            finally:
                if sys.getswitchinterval() == min(interval, _BACKGROUND_SWITCH_INTERVAL):
                    sys.setswitchinterval(interval)  # (unless someone else changed it since)

        self._proving = threading.Thread(target=run, name="pytest-seccomp-tracer", daemon=True)
        self._proving.start()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Prove the probes are live (or wait for the background proof): nothing is read and no
        container is created before the tracer has seen its handshake."""
        proving = self._proving  # (a proxy thread and the main thread may both ask)
        if proving is not None:
            if not self._settled.is_set():  # never settled: the errno given at construction
                self.settle(self.errno)
            proving.join()
            self._proving = None
            error, self._proof_error = self._proof_error, None
            if error is not None:
                raise error
        if not self._ready:
            self._handshake(timeout)

    def _handshake(self, timeout: float = 10.0) -> None:
        """A seccomp-confined child in a cgroup of our own makes syscalls, and the maps must
        show them under that cgroup."""
        if self._ready:
            return
        if self._loaded is None:
            raise TracerError("the tracer was never started")
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            name = f"pytest-seccomp-handshake-{os.getpid()}-{attempt}-{id(self) % 10000}"
            confined_in = self._loaded.run_handshake(name, self.errno)
            snapshot = self.dump(_handshake=True)
            ids = [cg for cg, p in snapshot.cgroup_paths.items() if p == "/" + name]
            if ids and self._handshake_seen(snapshot, ids[0] if confined_in is None
                                            else confined_in):
                self._ready = True
                return
            time.sleep(0.05)
        raise TracerError(
            f"the seccomp tracer did not see its handshake within {timeout:.0f} s: its programs "
            "are attached but never ran. No container was started; check that this kernel runs "
            "BPF programs on the raw_syscalls and cgroup tracepoints."
        )

    def _handshake_seen(self, snapshot: Snapshot, cgroup_id: int) -> bool:
        if self.mode == "record":
            return any(cg == cgroup_id for cg, _ in snapshot.counts)
        assert self._loaded is not None
        nr = _HANDSHAKE_NR.get(self._loaded.machine)
        return any(cg == cgroup_id and n == nr for cg, n, _ in snapshot.refused)

    def dump(self, _handshake: bool = False) -> Snapshot:
        """Read every map now. Anything noted before this call is in the result."""
        if not _handshake and not self._ready:
            self.wait_ready()
        loaded = self._loaded
        if loaded is None:
            raise TracerError("the tracer was never started")
        counting = self.mode == "record" and self.count_calls
        changes = loaded.changes()  # before the maps: a write it does not count is read again
        alive, tables = loaded.tables(("lost", "seen", *(("pending_calls",) if counting else ()),
                                       "calls", "families", "cgroup_paths", "refused",
                                       "compat_execs", "exec_paths"))
        if not alive:
            raise self._died("is no longer attached")
        if any(int.from_bytes(value, "little") for _, value in tables["lost"]):
            raise TracerError(
                f"the tracer's map is full ({self.map_size} entries): later syscalls could not be "
                "noted, so the recording is incomplete. Raise --seccomp-map-size, or record "
                "fewer containers per session."
            )
        counts: dict[tuple[int, int], int] = {}
        runtime: set[tuple[int, int]] = set()
        half = SYSCALL_BITS // 8
        for key, value in tables["seen"]:
            cgroup = int.from_bytes(key, "little")
            for into, bits in ((counts, int.from_bytes(value[:half], "little")),
                               (None, int.from_bytes(value[half:], "little"))):
                while bits:
                    low = bits & -bits
                    if into is None:
                        runtime.add((cgroup, low.bit_length() - 1))
                    else:
                        into[(cgroup, low.bit_length() - 1)] = 1
                    bits ^= low
        # --seccomp-count-calls: what each CPU still holds in its slots, read before the
        # shared map (a pair evicted meanwhile is in the shared map by then: never missed)
        called: Counter[int] = Counter()
        cpus = loaded.cpus("pending_calls") if counting else 0
        for _, value in tables.get("pending_calls", ()):
            for cpu in range(cpus):
                key, count = struct.unpack_from("=QQ", value, cpu * 16)
                if key:
                    called[key] += count
        for key, value in tables["calls"]:
            called[int.from_bytes(key, "little")] += int.from_bytes(value, "little")
        for packed, count in called.items():
            cgroup, nr = packed >> 32, packed & 0xFFFFFFFF
            if nr & RUNTIME_FLAG:
                runtime.add((cgroup, nr & ~RUNTIME_FLAG))
            else:
                counts[(cgroup, nr)] = count
        socket_nr = self._family_nrs[0]
        for key, value in tables["families"]:
            cgroup = int.from_bytes(key, "little")
            *words, netlink, types, executable = FAMILY_SET.unpack(value)
            for nr, word in zip(self._family_nrs, words, strict=True):
                for bit in _bits(word):
                    counts[(cgroup, arg_key(nr, bit))] = 1
            for bit in _bits(netlink):
                counts[(cgroup, arg_key(socket_nr, socket_value(AF_NETLINK, bit)))] = 1
            for bit in _bits(types):  # (folded into the family unless types are pinned)
                family = TYPED_FAMILIES[bit // 16]
                value_ = socket_value(family, bit % 16 if self.all_arguments else None)
                counts[(cgroup, arg_key(socket_nr, value_))] = 1
            for bit in _bits(executable) if self.all_arguments else ():  # 2 bits per syscall
                nr_ = self._memory_nrs[bit // 2]
                if nr_ is not None:
                    counts[(cgroup, arg_key(nr_, bit % 2 + 1))] = 1
        paths = {int.from_bytes(k, "little"): v.split(b"\0", 1)[0].decode(errors="replace")
                 for k, v in tables["cgroup_paths"]}
        refused = {}
        for key, value in tables["refused"]:
            cgroup, nr, arg, thread, leader = struct.unpack("=QII16s16s", key)
            caller = Caller(*(n.split(b"\0", 1)[0].decode(errors="replace")
                              for n in (thread, leader)))
            refused[(cgroup, arg_key(nr, arg - 1) if arg else nr, caller)] = \
                int.from_bytes(value, "little")
        compat = {int.from_bytes(k, "little"): int.from_bytes(v, "little")
                  for k, v in tables["compat_execs"]}
        programs: dict[int, set[str]] = {}
        for key, _ in tables.get("exec_paths", ()):
            cgroup, text = EXEC_PATH.unpack(key)
            programs.setdefault(cgroup, set()).add(
                text.split(b"\0", 1)[0].decode(errors="surrogateescape"))
        self._changes_read = changes
        return Snapshot(counts=counts, cgroup_paths=paths, refused=refused, compat_execs=compat,
                        runtime=frozenset(runtime),
                        programs={c: frozenset(p) for c, p in programs.items()})

    def unchanged(self) -> bool:
        """Nothing noted since the last dump: one read of a counter instead of every map (the
        session asks at every test's edge). Never said of --seccomp-count-calls, whose counts
        move without the counter, nor where the counter is not read (the helper)."""
        loaded = self._loaded
        if loaded is None or self._changes_read is None or \
                (self.mode == "record" and self.count_calls):
            return False
        return loaded.changes() == self._changes_read

    def stop(self) -> None:
        """Detach the program and free its maps (also done by the kernel if the process dies).
        The tracer can then be started again, elsewhere (the session moves a load begun here
        to the helper when the engine turns out to run on another kernel)."""
        proving = self._proving
        if proving is not None:  # never free the maps under the handshake's reads
            self._stopping = True
            self._settled.set()  # a load waiting for its errno ends without a handshake
            proving.join()
            self._proving = None
            self._proof_error = None
        self._stopping = False
        self._settled = threading.Event()
        self._ready = False
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None


def _run_confined_thread(errno: int) -> None:
    """A thread under a seccomp filter (mode 2, as containers are) that refuses getppid with
    `errno` and calls it once: a filter loaded without TSYNC binds the loading thread alone, and
    leaves with it."""
    import pyseccomp

    failed: list[BaseException] = []

    def confined() -> None:
        try:
            handshake = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
            handshake.add_rule(pyseccomp.ERRNO(errno), "getppid")  # a refusal, seen by enforce
            handshake.load()
            os.getppid()
        except BaseException as exc:  # raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=confined, name="pytest-seccomp-handshake")
    thread.start()
    thread.join()
    if failed:
        raise TracerError(f"the tracer's handshake could not confine a thread ({failed[0]})")


def _own_cgroup_id(mount: Path) -> int:
    """This process's cgroup v2 id: the inode of its directory (kernfs ids are inode numbers)."""
    with open("/proc/self/cgroup", encoding="utf-8") as cgroups:
        path = next((line.rstrip("\n").split("::", 1)[1] for line in cgroups
                     if line.startswith("0::")), "/")
    return os.stat(mount / path.lstrip("/")).st_ino


def _bits(word: int) -> Iterator[int]:
    """The numbers of the bits set in `word`, lowest first."""
    while word:
        low = word & -word
        yield low.bit_length() - 1
        word ^= low


def early_tracer(mode: Mode, count_calls: bool, map_size: int, requested: Place) -> Tracer | None:
    """A tracer loading in the background already, before pytest imports the conftests (which
    then hide the load), when it will likely run in this process: the engine is not known yet
    (DOCKER_HOST, if set, says where it likely is), and the session adopts the tracer or stops
    it once it is. None when it would not run here or cannot load (the session says why)."""
    from ..profiles.engine_default import EngineInfo
    from .placement import tracer_place

    engine = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if tracer_place(requested, engine, EngineInfo()) is not Place.LOCAL:
        return None
    try:
        check_prerequisites()
    except SeccompError:
        return None
    tracer = Tracer(mode, count_calls, map_size=map_size, place=Place.LOCAL)
    tracer.load_soon()
    return tracer
