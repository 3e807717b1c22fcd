"""The measured table of the runtimes' steps after installing the filter, and
`--seccomp-runtimes`: pure logic, no engine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.errors import SeccompError
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import Profile, build_profile
from pytest_seccomp.profiles.runtimes import (
    RuntimePath,
    RuntimeSelection,
    StartMode,
    coverage_label,
    covered_steps,
    measured_table,
    missing_by_path,
    missing_steps,
    version_tuple,
)
from pytest_seccomp.profiles.syscalls import syscall_number

TABLE = measured_table()


def test_the_table_measures_runc_and_crun_from_1_1_and_1_8_up_in_both_modes():
    names = {r.name for r in TABLE.runtimes}
    assert names == {"runc", "crun"}
    assert min(version_tuple(r.version) for r in TABLE.named("runc")) <= (1, 1, 5)
    assert max(version_tuple(r.version) for r in TABLE.named("runc")) >= (1, 3)
    for runtime in TABLE.runtimes:
        assert set(runtime.steps) == set(StartMode), runtime.label
        assert "execve" in runtime.steps[StartMode.DEFAULT], runtime.label  # the last step
        assert runtime.starts >= 20 and runtime.engine, runtime.label
        for name in runtime.steps[StartMode.DEFAULT] | runtime.steps[StartMode.NNP]:
            assert syscall_number(name) is not None, name  # a real syscall of this machine
    assert "bench_runtimes.py --measure" in TABLE.made_by


def test_runc_1_3_needs_what_runc_1_1_never_did():
    old, new = TABLE.find("runc 1.1.5+ds1"), TABLE.find("runc 1.3.6")
    assert old is not None and new is not None
    assert "statx" in new.steps[StartMode.DEFAULT] - old.steps[StartMode.DEFAULT]


@pytest.mark.parametrize(("spec", "chosen"), [
    ("all", {r.label for r in TABLE.runtimes}),
    (None, {r.label for r in TABLE.runtimes}),
    ("recorded", set()),
    ("runc", {r.label for r in TABLE.named("runc")}),
    ("runc>=1.3", {r.label for r in TABLE.named("runc") if version_tuple(r.version) >= (1, 3)}),
    ("crun@1.8.1, runc==1.1.5", {"crun 1.8.1", "runc 1.1.5"}),
    ("crun<1.9", {r.label for r in TABLE.named("crun") if version_tuple(r.version) < (1, 9)}),
])
def test_a_selection_chooses_the_runtimes_it_names(spec, chosen):
    assert {r.label for r in RuntimeSelection.parse(spec).chosen()} == chosen


@pytest.mark.parametrize("spec", ["youki", "runc>=x", "runc~1", ">=1.1", "runc>=1.1,"])
def test_a_selection_naming_no_measured_runtime_is_refused_with_what_to_give(spec):
    with pytest.raises(SeccompError) as raised:
        RuntimeSelection.parse(spec)
    assert "names no measured runtime" in str(raised.value)
    assert "'runc>=1.1,crun>=1.8'" in str(raised.value)


@given(st.sets(st.sampled_from([r.label for r in TABLE.runtimes])), st.booleans())
def test_the_covered_steps_hold_every_chosen_runtimes_steps(labels, nnp):
    spec = ",".join(label.replace(" ", "==") for label in sorted(labels)) or "recorded"
    steps, chosen = covered_steps(RuntimeSelection.parse(spec), nnp)
    assert {r.label for r in chosen} == labels
    for runtime in chosen:
        assert runtime.steps[StartMode.of(nnp)] <= steps
        assert not missing_steps(steps, runtime.label, nnp)
    assert (steps == frozenset()) == (not any(r.steps[StartMode.of(nnp)] for r in chosen))


def test_the_label_spans_each_runtimes_versions():
    assert coverage_label(RuntimeSelection.parse("runc==1.1.5").chosen()) == "runc 1.1.5"
    label = coverage_label(RuntimeSelection.parse("all").chosen())
    assert label.startswith("crun 1.8.1-") and ", runc 1.1.5-" in label


def test_the_runtime_rule_names_what_it_was_recorded_under_and_what_it_covers():
    default = Profile.load(DOCKER_DEFAULT)
    steps, chosen = covered_steps(RuntimeSelection(), nnp=False)
    profile = build_profile({"read", "write"}, default, runtime_syscalls=steps,
                            runtime="runc 1.1.5+ds1", nnp=False,
                            runtimes_covered=coverage_label(chosen))
    again = Profile.from_json(json.loads(profile.dumps()))  # as read back from its file
    assert again.runtime == "runc 1.1.5+ds1"
    assert again.runtimes_covered == coverage_label(chosen)
    assert not missing_steps(again.allowed, "runc 1.3.6", nnp=False)
    assert missing_steps({"read"}, "runc 1.3.6", nnp=False)
    assert missing_steps({"read"}, "gvisor 1.0", nnp=False) is None  # never measured


# -- newer engines' ceilings: `check --engine-version` ------------------------------------------

def _checked_against(version: str, names: set[str], **families: list[int]) -> list[str]:
    from pytest_seccomp.deploy.export import resolve
    from pytest_seccomp.profiles.engine_default import version_default

    profile = build_profile(names, Profile.load(DOCKER_DEFAULT), machine="x86_64",
                            families=families or None)
    ceiling, _ = version_default(version)
    return resolve(profile, "x86_64").check(ceiling.profile)


def test_a_profile_using_io_uring_under_20_10_is_wider_than_docker_26_and_28s_default():
    # Docker 25 dropped io_uring from its default: a profile recorded on 20.10 keeps it
    for version in ("26.1", "28.5.2"):
        problems = _checked_against(version, {"read", "io_uring_setup", "io_uring_enter"})
        assert "io_uring_setup is allowed but the default refuses it" in problems, problems
        assert "io_uring_enter is allowed but the default refuses it" in problems
    assert _checked_against("28.5", {"read", "write", "futex"}) == []


@given(st.sampled_from([1, 2, 10, 16, 17, 38, 40, 44]))
def test_a_socket_family_rule_is_within_28_5s_socket_rule_unless_it_is_af_vsock(family):
    # Docker 28.5 allows socket unless AF_VSOCK (index 0 != 40)
    problems = _checked_against("28.5.2", {"socket", "read"}, socket=[family])
    if family == 40:
        assert problems == ["socket is allowed under other conditions than the default's"]
    else:
        assert problems == []


def test_socket_allowed_whatever_the_family_is_wider_than_28_5s_default():
    problems = _checked_against("28.5.2", {"socket", "read"})
    assert problems == ["socket is allowed under other conditions than the default's"]


def test_an_engine_version_no_release_names_is_refused_with_what_to_give():
    from pytest_seccomp.profiles.engine_default import version_default

    with pytest.raises(SeccompError, match=r"names no Docker release .* \(20\.10\.24, 26\.1\.5, 28\.5\.2\)"):
        version_default("99")


def test_the_shipped_defaults_say_where_they_came_from_and_deny_by_default():
    from pytest_seccomp.profiles.engine_default import SHIPPED

    index = json.loads((SHIPPED / "index.json").read_text())
    assert set(index) == {"20.10.24", "26.1.5", "28.5.2"}
    for version, entry in index.items():
        profile = Profile.load(SHIPPED / entry["file"])
        assert profile.denies_by_default and version in entry["engine"]
        if "applies_to" in entry:  # as a newer engine applied it (bench_runtimes.py --defaults)
            assert profile.is_resolved and "--defaults" in entry["made_by"]
        else:  # moby's own file, as Debian's source package holds it
            assert not profile.is_resolved and "golang-github-docker-docker-dev" in entry["made_by"]


def test_every_runtime_has_its_exec_restart_and_init_paths_measured_in_both_modes():
    """The paths a runtime takes into a running container were measured apart from the start:
    crun's exec installs the filter before it sets groups, terminal and umask; runc 1.3's
    checks the working directory; --init adds what tini does before the app."""
    for runtime in TABLE.runtimes:
        for path in (RuntimePath.EXEC, RuntimePath.RESTART):
            for mode in StartMode:
                assert "execve" in runtime.path_steps(path, mode), (runtime.label, path, mode)
        assert runtime.all_steps(StartMode.DEFAULT) >= runtime.steps[StartMode.DEFAULT]
    for label in ("crun 1.28", "crun 1.21", "crun 1.8.1"):
        runtime = TABLE.find(label)
        assert runtime is not None
        assert {"setgroups", "umask"} <= runtime.path_steps(RuntimePath.EXEC, StartMode.DEFAULT) \
            - runtime.steps[StartMode.DEFAULT], label
    runc = TABLE.find("runc 1.3.6")
    assert runc is not None
    assert "faccessat" in runc.path_steps(RuntimePath.EXEC, StartMode.DEFAULT)
    assert {"wait4", "rt_sigtimedwait", "setpgid"} <= runc.path_steps(RuntimePath.INIT,
                                                                      StartMode.DEFAULT)
    assert "bench_runtimes.py --paths" in TABLE.paths_made_by


@pytest.mark.parametrize("nnp", [False, True])
def test_a_profile_with_only_the_starts_steps_is_told_which_paths_lack_what(nnp: bool):
    crun = TABLE.find("crun 1.28")
    assert crun is not None
    mode = StartMode.of(nnp)
    start_only = crun.steps[mode] | {"read", "write"}
    gaps = missing_by_path(start_only, "crun 1.28", nnp)
    assert gaps is not None and RuntimePath.RUN not in gaps  # it starts
    assert "umask" in gaps[RuntimePath.EXEC] and RuntimePath.RESTART not in gaps
    assert missing_steps(start_only, "crun 1.28", nnp) == frozenset()
    # the runtime rule covers start, exec, health check and restart; --init's are the init's
    assert set(missing_by_path(crun.all_steps(mode), "crun 1.28", nnp) or {}) <= {
        RuntimePath.INIT}
    assert not crun.path_steps(RuntimePath.INIT, mode) <= crun.all_steps(mode)
    assert missing_by_path(start_only, "youki 0.3", nnp) is None  # never measured
