"""What one session recorded: its containers, the syscalls each made, and which test caused them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..profiles.applies import Applied
from ..profiles.arguments import key_label, split_key
from ..tracing.tracer import Caller, Snapshot
from .cgroups import container_in_cgroup


@dataclass
class ContainerRecord:
    """One container a test created, and what the tracer counted for it so far."""

    id: str
    name: str
    image: str
    profile: str
    test: str
    started: bool = False
    left_out: str | None = None  # why this container is neither recorded nor enforced
    cgroups: set[int] = field(default_factory=set)
    counts: Counter[int] = field(default_factory=Counter)  # syscall nr -> calls
    execs: list[tuple[str, str]] = field(default_factory=list)  # (test, command)
    refused: Counter[tuple[int, Caller]] = field(default_factory=Counter)  # (nr, who) -> calls
    compat_execs: int = 0
    programs: set[str] = field(default_factory=set)  # the paths its processes exec'd
    served: set[str] = field(default_factory=set)  # the tests requesting the fixture that made it
    runtime: set[int] = field(default_factory=set)  # the runtime's steps after the filter
    healthcheck: str | None = None  # the command of the image's (or container's) HEALTHCHECK
    healthcheck_ran: bool = False  # the engine ran it, or a test exec'd that command
    # the create request's Entrypoint and Cmd (None: the image's), for --seccomp-coverage
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    # what decides which of the engine's default rules this container gets (its capabilities)
    applied: Applied | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass
class Stranger:
    """A container the tracer saw start that no client of this session created: a client
    that ignored DOCKER_HOST, another process, or a sibling xdist worker (left out)."""

    id: str
    window: str  # where it was first seen
    name: str | None = None  # asked of the engine at the end
    image: str = ""
    sibling: bool = False  # another pytest-xdist worker of this run created it

    @property
    def label(self) -> str:
        short = self.id[:12]
        return short if self.name in (None, short) else f"{self.name} ({short})"


@dataclass
class Recording:
    """Containers by id, plus per-test attribution of the syscalls each one made."""

    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    # window (a test's node id, a fixture, a gap between tests) -> container id -> syscall nr
    # -> calls made while that window was open
    by_test: dict[str, dict[str, Counter[int]]] = field(default_factory=dict)
    # window -> container id -> (nr, who) -> refusals while that window was open
    refused_by_test: dict[str, dict[str, Counter[tuple[int, Caller]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # window -> syscall numbers some profile got for the first time in it
    first_by_window: dict[str, set[int]] = field(default_factory=dict)
    strangers: dict[str, Stranger] = field(default_factory=dict)
    build_steps: set[str] = field(default_factory=set)  # classic `docker build` RUN containers
    _profile_names: dict[str, set[int]] = field(default_factory=dict)

    def add(self, container: ContainerRecord) -> None:
        self.containers[container.id] = container

    def find(self, reference: str) -> ContainerRecord | None:
        """A container by full id, id prefix or name, as the SDK accepts them."""
        if reference in self.containers:
            return self.containers[reference]
        for record in self.containers.values():
            if record.id.startswith(reference) or record.name == reference:
                return record
        return None

    def apply(self, snapshot: Snapshot, window: str, building: bool = False) -> None:
        """Fold a cumulative snapshot in: whatever any known container did since the last read
        belongs to `window` (the test, fixture or gap that was running), whoever started it."""
        cgroups: dict[str, set[int]] = {}
        for cgroup_id, path in snapshot.cgroup_paths.items():
            container_id = container_in_cgroup(path)
            if container_id is None:
                continue
            if container_id in self.containers:
                cgroups.setdefault(container_id, set()).add(cgroup_id)
            elif container_id not in self.strangers and container_id not in self.build_steps:
                if building:
                    self.build_steps.add(container_id)
                else:
                    self.strangers[container_id] = Stranger(container_id, window)
        per_cgroup: dict[int, Counter[int]] = {}
        for (cgroup_id, nr), calls in snapshot.counts.items():
            per_cgroup.setdefault(cgroup_id, Counter())[nr] += calls
        refused_per_cgroup: dict[int, Counter[tuple[int, Caller]]] = {}
        for (cgroup_id, nr, caller), calls in snapshot.refused.items():
            refused_per_cgroup.setdefault(cgroup_id, Counter())[(nr, caller)] += calls
        for container_id, ids in cgroups.items():
            record = self.containers[container_id]
            if record.left_out:
                continue
            record.cgroups |= ids
            record.compat_execs = sum(snapshot.compat_execs.get(i, 0) for i in ids)
            record.programs |= {path for i in ids for path in snapshot.programs.get(i, ())}
            record.runtime |= {nr for cgroup_id, nr in snapshot.runtime if cgroup_id in ids}
            total: Counter[int] = Counter()
            refused: Counter[tuple[int, Caller]] = Counter()
            for cgroup_id in ids:
                total.update(per_cgroup.get(cgroup_id, Counter()))
                refused.update(refused_per_cgroup.get(cgroup_id, Counter()))
            delta = total - record.counts
            if delta:
                record.counts = total
                self.by_test.setdefault(window, {}).setdefault(container_id, Counter()).update(delta)
                known = self._profile_names.setdefault(record.profile, set())
                new = {nr for nr in delta if nr not in known}
                if new:
                    known |= new
                    self.first_by_window.setdefault(window, set()).update(new)
            new_refusals = refused - record.refused
            if new_refusals:
                record.refused = refused
                self.refused_by_test.setdefault(window, {}).setdefault(
                    container_id, Counter()).update(new_refusals)

    def first_in(self, window: str) -> set[str]:
        """The syscall names some profile needed for the first time in `window` (incremental:
        no walk over the recording, so a long suite does not pay per test for earlier ones)."""
        return set(self.names(Counter(self.first_by_window.get(window, ()))))

    def check_complete(self) -> None:
        """Note every reason the recording cannot be trusted whole; an unknown syscall number is
        one of them: reported by number, never silently dropped from a profile."""
        unknown = sorted({split_key(key)[0] for c in self.containers.values() if not c.left_out
                          for key in (*c.counts, *c.runtime) if key_label(key) is None})
        for nr in unknown:
            self.problems.append(
                f"syscall number {nr} is unknown to libseccomp's table, so it cannot be named in "
                "a profile; update libseccomp (Debian's libseccomp2)")
        for record in self.unattributed():
            self.problems.append(
                f"container {record.name} ({record.short_id}, image {record.image}, test "
                f"{record.test}) was started but the tracer never saw its cgroup, so its syscalls "
                "are unknown"
            )
        for record in self.containers.values():
            if record.compat_execs:
                self.problems.append(
                    f"container {record.name} ({record.short_id}, image {record.image}, test "
                    f"{record.test}) ran a 32-bit (compat) program, whose syscall numbers belong "
                    "to another table; recording them is not supported yet, so they would be "
                    "misnamed"
                )

    def per_test(self, container_ids: set[str]) -> dict[str, Counter[str]]:
        """Test -> named syscalls that the given containers made while it ran, in test order."""
        out: dict[str, Counter[str]] = {}
        for test, containers in self.by_test.items():
            counts: Counter[int] = Counter()
            for container_id, delta in containers.items():
                if container_id in container_ids:
                    counts.update(delta)
            if counts:
                out[test] = self.names(counts)
        return out

    def first_needed(self, container_ids: set[str]) -> dict[str, tuple[str, ContainerRecord]]:
        """Syscall -> (the first test that needed it, the container that made the call)."""
        out: dict[str, tuple[str, ContainerRecord]] = {}
        for test, containers in self.by_test.items():
            for container_id in sorted(containers, key=lambda c: self.containers[c].name):
                if container_id not in container_ids:
                    continue
                for name in sorted(self.names(containers[container_id])):
                    out.setdefault(name, (test, self.containers[container_id]))
        return out

    def to_builtin(self) -> dict[str, Any]:
        """Builtin types only, for pytest-xdist's workeroutput (execnet serialises nothing else)."""
        return {
            "containers": [
                {"id": c.id, "name": c.name, "image": c.image, "profile": c.profile,
                 "test": c.test, "started": c.started, "left_out": c.left_out,
                 "cgroups": sorted(c.cgroups), "counts": {str(k): v for k, v in c.counts.items()},
                 "execs": [list(e) for e in c.execs], "compat_execs": c.compat_execs,
                 "healthcheck": c.healthcheck, "healthcheck_ran": c.healthcheck_ran,
                 "runtime": sorted(c.runtime), "entrypoint": c.entrypoint, "cmd": c.cmd,
                 "programs": sorted(c.programs), "served": sorted(c.served)}
                for c in self.containers.values()
            ],
            "by_test": {test: {cid: {str(k): v for k, v in counts.items()}
                               for cid, counts in per.items()}
                        for test, per in self.by_test.items()},
            "problems": list(self.problems),
            "strangers": [{"id": s.id, "window": s.window, "name": s.name, "image": s.image}
                          for s in self.unseen()],
        }

    def absorb(self, data: dict[str, Any]) -> None:
        """Add another process's recording (an xdist worker's) to this one."""
        for c in data["containers"]:
            self.add(ContainerRecord(
                id=c["id"], name=c["name"], image=c["image"], profile=c["profile"],
                test=c["test"], started=c["started"], left_out=c["left_out"],
                cgroups=set(c["cgroups"]), counts=Counter({int(k): v for k, v in c["counts"].items()}),
                execs=[(t, cmd) for t, cmd in c["execs"]], compat_execs=c["compat_execs"],
                healthcheck=c["healthcheck"], healthcheck_ran=c["healthcheck_ran"],
                runtime=set(c["runtime"]), entrypoint=c.get("entrypoint"), cmd=c.get("cmd"),
                programs=set(c.get("programs", ())), served=set(c.get("served", ()))))
        for test, per in data["by_test"].items():
            into = self.by_test.setdefault(test, {})
            for cid, counts in per.items():
                into.setdefault(cid, Counter()).update({int(k): v for k, v in counts.items()})
        self.problems.extend(data["problems"])
        for stranger in data.get("strangers", []):
            self.strangers.setdefault(stranger["id"], Stranger(
                stranger["id"], stranger["window"], stranger["name"], stranger["image"]))

    def unattributed(self) -> list[ContainerRecord]:
        """Started containers whose cgroup the tracer never saw: their syscalls are unknown."""
        return [c for c in self.containers.values()
                if c.started and not c.left_out and not c.cgroups]

    def unseen(self) -> list[Stranger]:
        """Containers that ran during the session outside its interception, in order."""
        return sorted((s for s in self.strangers.values() if not s.sibling),
                      key=lambda s: (s.window, s.id))

    def unhealthchecked(self) -> dict[str, str]:
        """Image -> its health command, for images whose health check never ran in any of their
        containers: it will run under the profile in production, unrecorded."""
        ran = {c.image for c in self.containers.values() if c.healthcheck_ran}
        return {c.image: c.healthcheck for c in self.containers.values()
                if c.healthcheck and c.image not in ran and not c.left_out}

    @staticmethod
    def names(counts: Counter[int]) -> Counter[str]:
        """Syscall numbers as the engine's names, argument keys as `socket(AF_INET)` (unknown
        numbers: see `check_complete`)."""
        named: Counter[str] = Counter()
        for nr, calls in counts.items():
            name = key_label(nr)
            if name is not None:
                named[name] += calls
        return named
