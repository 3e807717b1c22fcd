"""The measured table of the runtimes' steps after installing the filter, and
`--seccomp-runtimes`: pure logic, no engine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.engine_default import DOCKER_DEFAULT
from pytest_seccomp.errors import SeccompError
from pytest_seccomp.profile import Profile, build_profile
from pytest_seccomp.runtimes import (
    RuntimeSelection,
    StartMode,
    coverage_label,
    covered_steps,
    measured_table,
    missing_steps,
    version_tuple,
)
from pytest_seccomp.syscalls import syscall_number

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
