"""Pure logic, from made-up tracer snapshots: attribution to windows, strangers, the runtime's
steps, concluding a recording into profiles, enforce's refusals. No root, no engine, no tracer:
`pytest -m "not docker"` runs these (and the other tests that need neither) anywhere."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT, EngineDefault
from pytest_seccomp.profiles.model import Profile, build_profile
from pytest_seccomp.profiles.runtimes import RuntimeSelection
from pytest_seccomp.profiles.syscalls import syscall_number
from pytest_seccomp.recording.store import ContainerRecord, Recording
from pytest_seccomp.reporting.report import summary_lines
from pytest_seccomp.sessions.enforce import EnforceSession, LoadedProfile
from pytest_seccomp.sessions.record import RecordController, RecordSession
from pytest_seccomp.sessions.shared import Options
from pytest_seccomp.tracing.tracer import Caller, Snapshot

ID = "a" * 64
OTHER = "b" * 64
CG, CG_OTHER = 4242, 4343
PATHS = {CG: f"/docker/{ID}", CG_OTHER: f"/system.slice/docker-{OTHER}.scope", 7: "/init.scope"}


def nr(name: str) -> int:
    number = syscall_number(name)
    assert number is not None
    return number


def snapshot(*names: str, runtime: tuple[str, ...] = (), refused: dict[str, int] | None = None,
             other: tuple[str, ...] = (), caller: Caller | None = None) -> Snapshot:
    caller = caller or Caller("app", "app")
    counts = {(CG, nr(n)): 1 for n in names} | {(CG_OTHER, nr(n)): 1 for n in other}
    return Snapshot(counts=counts, cgroup_paths=PATHS,
                    refused={(CG, nr(n), caller): c for n, c in (refused or {}).items()},
                    runtime=frozenset((CG, nr(n)) for n in runtime))


def recording_with_one_container() -> Recording:
    recording = Recording()
    recording.add(ContainerRecord(ID, "box", "busybox", "busybox", "fixture box"))
    return recording


def test_each_window_gets_what_was_new_in_it_whoever_started_the_container():
    recording = recording_with_one_container()
    recording.apply(snapshot("read", "write"), "fixture box")
    recording.apply(snapshot("read", "write", "mkdir"), "test_a.py::test_one")
    recording.apply(snapshot("read", "write", "mkdir"), "test_a.py::test_two")  # nothing new
    recording.apply(snapshot("read", "write", "mkdir", "rmdir"), "(after the tests)")
    per_window = {w: set(c) for w, c in recording.per_test({ID}).items()}
    assert per_window == {"fixture box": {"read", "write"}, "test_a.py::test_one": {"mkdir"},
                          "(after the tests)": {"rmdir"}}
    assert recording.first_in("test_a.py::test_one") == {"mkdir"}
    assert recording.first_in("test_a.py::test_two") == set()
    first = recording.first_needed({ID})
    assert first["rmdir"][0] == "(after the tests)" and first["read"][0] == "fixture box"


def test_a_container_no_client_created_is_a_stranger_unless_a_build_ran():
    recording = recording_with_one_container()
    recording.apply(snapshot("read", other=("write",)), "test_x.py::test_bypass")
    assert [s.id for s in recording.unseen()] == [OTHER]
    assert recording.unseen()[0].window == "test_x.py::test_bypass"
    built = recording_with_one_container()
    built.apply(snapshot("read", other=("write",)), "test_x.py::test_build", building=True)
    assert built.unseen() == [] and built.build_steps == {OTHER}


def test_the_runtimes_steps_stay_apart_and_make_their_own_rule(tmp_path: Path):
    recording = recording_with_one_container()
    recording.apply(snapshot("getdents64", "write", "read",
                             runtime=("setgroups", "capset", "read")), "t")
    record = recording.containers[ID]
    assert {nr("setgroups"), nr("capset"), nr("read")} <= record.runtime
    session = RecordSession(Options(profile_dir=tmp_path, nnp=False),
                            runtimes=RuntimeSelection.parse("recorded"))
    session.default = EngineDefault(DOCKER_DEFAULT, Profile.load(DOCKER_DEFAULT))
    session.runtime = "runc 1.1.5"
    session.recording = recording
    (result,) = session.conclude()
    assert result.status == "new" and session.failure is None
    written = json.loads((tmp_path / "busybox.json").read_text())
    comments = {r.get("comment", ""): set(r["names"]) for r in written["syscalls"]}
    runtime_rule = next(v for c, v in comments.items() if "runtime needs (runc 1.1.5)" in c)
    # read: the app needs it too, so app's rule; runc's Go waits whether seen or not
    assert runtime_rule == {"setgroups", "capset", "futex", "nanosleep"}
    assert "read" in comments["pytest-seccomp: what the app needs; starts with or without "
                              "no-new-privileges"]
    assert Profile.load(tmp_path / "busybox.json").made_for_nnp is False
    (line,) = [x for x in summary_lines(session.outcome(), verbose=False) if "the runtime (" in x]
    assert line.endswith("(its steps after installing the filter, without no-new-privileges)")


def test_the_summary_says_the_runtimes_steps_were_recorded_in_the_mode_they_were(tmp_path: Path):
    recording = recording_with_one_container()
    recording.apply(snapshot("getdents64", "write", runtime=("capset",)), "t")
    session = RecordSession(Options(profile_dir=tmp_path, nnp=True))
    session.default = EngineDefault(DOCKER_DEFAULT, Profile.load(DOCKER_DEFAULT))
    session.runtime, session.recording = "crun 1.8.1", recording
    session.conclude()
    (line,) = [x for x in summary_lines(session.outcome(), verbose=False) if "the runtime (" in x]
    assert "the runtime (crun 1.8.1) did capset (its steps after installing the filter, under " \
        "no-new-privileges); for the runtimes its rule covers (crun 1.8.1-" in line, line
    # runc's steps are held for runc, never said to be what crun did
    assert "it also holds " in line and "statx" in line.split("it also holds ", 1)[1], line


def test_enforce_names_refusals_the_profile_does_not_allow(tmp_path: Path):
    session = EnforceSession(Options(profile_dir=tmp_path))
    default = Profile.load(DOCKER_DEFAULT)
    profile = build_profile({"read", "write"}, default)
    session.loaded["busybox"] = LoadedProfile("busybox", tmp_path / "busybox.json",
                                              profile.dumps(), profile)
    session.recording = recording_with_one_container()
    session.recording.apply(snapshot(refused={"mkdir": 2, "read": 1}), "test_a.py::test_one")
    session.current.nodeid = "test_a.py::test_one"
    refusals = session.take_refusals()
    assert [(r.syscall, r.calls, r.window) for r in refusals] == [
        ("mkdir", 2, "test_a.py::test_one")]  # read is allowed: an EPERM of the kernel's own
    assert session.take_refusals() == []  # each is reported once
    assert "mkdir  x2  by process 'app'" in session.explain(refusals)


def test_a_refusal_by_a_runtimes_own_thread_names_the_thread_and_its_process(tmp_path: Path):
    session = EnforceSession(Options(profile_dir=tmp_path))
    profile = build_profile({"read"}, Profile.load(DOCKER_DEFAULT))
    session.loaded["busybox"] = LoadedProfile("busybox", tmp_path / "busybox.json",
                                              profile.dumps(), profile)
    session.recording = recording_with_one_container()
    session.recording.apply(snapshot(refused={"membarrier": 1},
                                     caller=Caller("GC Thread#0", "java")), "test_a.py::test_gc")
    session.current.nodeid = "test_a.py::test_gc"
    explained = session.explain(session.take_refusals())
    assert "membarrier  x1  by thread 'GC Thread#0' of process 'java'" in explained, explained


def test_a_failed_start_under_a_profile_lacking_the_runtimes_steps_is_explained_whatever_the_words(
        tmp_path: Path):
    """Docker 28 with runc 1.3 may answer a start whose runc init died of a refused step with
    the error of a later step (the network namespace's bind-mount), which names no seccomp."""
    from pytest_seccomp.interception.proxy import EngineError, StartError

    session = EnforceSession(Options(profile_dir=tmp_path))
    session.runtime = "runc 1.3.6"
    profile = build_profile({"read"}, Profile.load(DOCKER_DEFAULT))  # no runtime steps at all
    session.loaded["busybox"] = LoadedProfile("busybox", tmp_path / "busybox.json",
                                              profile.dumps(), profile)
    session.recording = recording_with_one_container()
    words = "bind-mount /proc/330/ns/net -> /var/run/docker/netns/3035: no such file or directory"
    explained = session.explain_failure(ID, StartError(500, words))
    assert explained is not None
    assert "the runtime (runc 1.3.6) was measured to need" in str(explained)
    assert "statx" in str(explained) and words in str(explained)
    # not a start (an exec, a create): those words are the engine's own
    assert session.explain_failure(ID, EngineError(500, words)) is None
    # a profile that holds the runtime's steps: a failed start is the engine's own business
    runtime_steps = session.runtime_gap(profile) or frozenset()
    whole = build_profile({"read"} | runtime_steps, Profile.load(DOCKER_DEFAULT))
    session.loaded["busybox"] = LoadedProfile("busybox", tmp_path / "busybox.json",
                                              whole.dumps(), whole)
    assert session.explain_failure(ID, StartError(500, words)) is None


def test_worker_recordings_merge_in_the_controller(tmp_path: Path):
    worker = recording_with_one_container()
    worker.apply(snapshot("read", runtime=("setgroups",), other=("write",)), "test_w.py::test")
    controller = RecordController(Options(profile_dir=tmp_path))
    controller.absorb("gw0", {"recording": worker.to_builtin(), "failure": None,
                              "tests_failed": 0, "full_run": True})
    assert controller.recording.containers[ID].runtime == {nr("setgroups")}
    assert controller.recording.by_test == {"test_w.py::test": {ID: Counter({nr("read"): 1})}}
    assert [s.id for s in controller.recording.unseen()] == [OTHER]
    controller.absorb("gw1", None)
    assert controller.failure and "gw1" in controller.failure


def test_each_role_is_a_class_of_its_own(tmp_path: Path):
    """Alone, worker and controller answer the same verbs their own way; no verb asks which
    role it plays (pytest-cov's Central, DistWorker and DistMaster)."""
    import ast
    import inspect

    from pytest_seccomp.sessions import enforce, record
    from pytest_seccomp.sessions import shared as session
    from pytest_seccomp.sessions.enforce import EnforceController, EnforceWorker
    from pytest_seccomp.sessions.record import RecordWorker

    for module in (session, record, enforce):
        reads = [node.lineno for node in ast.walk(ast.parse(inspect.getsource(module)))
                 if isinstance(node, ast.Attribute) and node.attr == "role"
                 and isinstance(node.ctx, ast.Load)]
        assert reads == [], f"{module.__name__} branches on the role at lines {reads}"
    options = Options(profile_dir=tmp_path)
    controller = EnforceController(options)
    controller.start()  # runs no test: no tracer, no proxy, DOCKER_HOST untouched
    assert not controller.tracer.started and controller.proxy is None
    alone, worker = RecordSession(options), RecordWorker(options)
    for failed in (alone, worker):
        failed.failure = "the tracer was detached"
    assert alone.exit_status(0, interrupted=False) == 3  # the recording is incomplete
    assert worker.exit_status(0, interrupted=False) == 0  # the controller judges what it sent
    controller.absorb("gw0", {"lines": ["refused: mkdir"], "tests_failed": 1,
                              "strict_failed": True, "failure": None})
    assert controller.summary(False) == ["refused: mkdir"]
    assert controller.exit_status(0, interrupted=False) == 1  # a worker's strict policy failed
    enforcing = EnforceWorker(options)
    enforcing.failure = "tracer lost"
    assert enforcing.exit_status(0, interrupted=False) == 0


def test_enforce_tells_a_refused_family_from_the_kernels_own_eperm():
    from pytest_seccomp.profiles.arguments import arg_key
    from pytest_seccomp.sessions.enforce import _refused_by_filter

    default = Profile.load(DOCKER_DEFAULT)
    profile = build_profile({"socket", "read"}, default, families={"socket": {1, 2}})
    socket = nr("socket")
    assert _refused_by_filter(profile, arg_key(socket, 17)) == \
        "the profile allows socket for AF_UNIX, AF_INET only"
    assert _refused_by_filter(profile, arg_key(socket, 2)) is None  # e.g. a raw AF_INET socket
    names_only = build_profile({"socket"}, default)
    assert _refused_by_filter(names_only, arg_key(socket, 17)) is None  # CAP_NET_RAW missing
    assert _refused_by_filter(profile, nr("mkdir")) == ""


def test_github_annotations_and_summary_are_escaped_as_the_toolkit_does(tmp_path):
    from pytest_seccomp.reporting.github import Annotation, CiReport, Level, publish

    note = Annotation(Level.ERROR, "seccomp: drift", "a,b: 100%\nnext", "dir/x,y.json")
    assert note.command() == "::error file=dir/x%2Cy.json,title=seccomp%3A drift::a,b: 100%25%0Anext"
    report = CiReport("h", ("profile", "drift"), rows=[("a|b", "+mkdir")], annotations=[note])
    printed: list[str] = []
    summary = tmp_path / "summary.md"
    publish(report, {"GITHUB_STEP_SUMMARY": str(summary)}, printed.append)
    assert printed == [] and "| a\\|b | +mkdir |" in summary.read_text()
    publish(report, {"GITHUB_ACTIONS": "true"}, printed.append)
    assert printed == [note.command()]
