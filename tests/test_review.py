"""Profiles as reviewed artefacts: drift check, markers, the fixture, JUnit properties, the CLI."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from pytest_seccomp.profiles.model import ALWAYS_ALLOWED

from .conftest import BUSYBOX, cli

APP = f"""
import docker
import pytest

def run(*cmd):
    return docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True)

def test_ls():
    run("ls", "/")

@pytest.mark.new
def test_mkdir():
    run("mkdir", "/x")
"""
INI = "[pytest]\nmarkers =\n    new: a test added after the profiles were committed\n"


@pytest.fixture
def committed(pytester: pytest.Pytester, busybox_image: str) -> pytest.Pytester:
    """A project whose profile was recorded from `ls /` and committed."""
    pytester.makeini(INI)
    pytester.makepyfile(test_app=APP)
    pytester.runpytest_subprocess("--seccomp-record", "-m", "not new").assert_outcomes(passed=1)
    return pytester


def profile_text(pytester: pytest.Pytester) -> str:
    return (pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json").read_text()


def test_drift_check_fails_on_new_permissions_and_writes_nothing(committed):
    before = profile_text(committed)
    result = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check")
    assert result.ret == 6
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "pytest-seccomp/busybox: **, drifted: +1)",
        "  pytest-seccomp/busybox: +mkdir (test_app.py::test_mkdir, container *)",
        "drift: profiles would gain syscalls nobody reviewed*--seccomp-update* to accept",
    ])
    assert profile_text(committed) == before

    update = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check",
                                            "--seccomp-update")
    assert update.ret == 0
    assert "mkdir" in json.loads(profile_text(committed))["syscalls"][0]["names"]
    again = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check")
    assert again.ret == 0
    again.stdout.fnmatch_lines(["pytest-seccomp/busybox: **, unchanged)"])


def test_unused_syscalls_are_reported_only_when_every_test_ran(committed):
    committed.runpytest_subprocess("--seccomp-record").assert_outcomes(passed=2)  # ls + mkdir
    partial = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check", "-m", "not new")
    assert partial.ret == 0
    partial.stdout.fnmatch_lines(["pytest-seccomp/busybox: **, unchanged)",
                                  "not every test ran: syscalls the profiles no longer need*"])
    (committed.path / "test_app.py").write_text(APP.replace("run(\"mkdir\", \"/x\")", "pass"))
    full = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check")
    assert full.ret == 0  # fewer permissions is not a failure, only a candidate to drop
    full.stdout.fnmatch_lines(["pytest-seccomp/busybox: **, narrower: -1)",
                               "  pytest-seccomp/busybox: -mkdir"])


def test_skip_marker_leaves_containers_out_and_strict_markers_accepts_it(pytester, busybox_image):
    pytester.makepyfile(test_skip=f"""
import docker, pytest

@pytest.mark.seccomp(skip=True, reason="runs a fuzzer")
def test_fuzz():
    docker.from_env().containers.run("{BUSYBOX}", ["true"], remove=True)
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--strict-markers")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["not recorded: container * in test_skip.py::test_fuzz: the test "
                                 "is marked seccomp(skip=True): runs a fuzzer"])
    assert not (pytester.path / "seccomp-profiles").exists()


FIXTURE_TESTS = f"""
import docker, pytest

def test_fixture(seccomp):
    c = docker.from_env().containers.run("{BUSYBOX}", ["sleep", "30"], detach=True)
    try:
        c.exec_run(["mkdir", "/made"])
        seccomp.assert_not_used(c, "ptrace", "keyctl")
        if seccomp.mode == "record":
            assert "mkdir" in seccomp.syscalls(c)
            assert "mkdir" in seccomp.profile("pytest-seccomp/busybox").allowed
            with pytest.raises(AssertionError, match="used mkdir, which this test forbids"):
                seccomp.assert_not_used(c, "mkdir")
        else:
            with pytest.raises(AssertionError, match="allows mkdir"):
                seccomp.assert_not_used(c, "mkdir")
    finally:
        c.remove(force=True)
"""


def test_fixture_in_record_and_enforce_and_skipped_otherwise(pytester, busybox_image):
    pytester.makepyfile(test_fx=FIXTURE_TESTS)
    pytester.runpytest_subprocess("--seccomp-record").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("--seccomp-enforce").assert_outcomes(passed=1)
    plain = pytester.runpytest_subprocess("-rs")
    plain.assert_outcomes(skipped=1)
    plain.stdout.fnmatch_lines(["*needs --seccomp-record or --seccomp-enforce*"])


def test_the_fixture_s_profile_is_the_file_the_session_writes(pytester, busybox_image):
    """seccomp.profile() is built where the files are: the runtime's rule and the mode too."""
    pytester.makepyfile(test_fx=f"""
import docker
from pathlib import Path

def test_fixture(seccomp):
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
    Path("fixture.json").write_text(seccomp.profile("pytest-seccomp/busybox").dumps())
""")
    for mode in ((), ("--seccomp-nnp",)):
        pytester.runpytest_subprocess("--seccomp-record", *mode).assert_outcomes(passed=1)
        written = (pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json")
        assert (pytester.path / "fixture.json").read_text() == written.read_text()
        assert "what the runtime needs" in written.read_text()
        written.unlink()


def test_junit_xml_carries_what_each_test_first_needed(committed):
    result = committed.runpytest_subprocess("--seccomp-record", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(committed.path / "out.xml").iter("testcase")}
    assert "getdents64" in cases["test_ls"]["seccomp_syscalls"].split()
    first = set(cases["test_mkdir"]["seccomp_syscalls"].split())
    assert "mkdir" in first  # plus, at times, a signal/scheduling syscall the first run missed
    assert first - {"mkdir"} <= ALWAYS_ALLOWED | {"wait4", "clock_nanosleep"}


def test_cli_show_diff_check(tmp_path):
    from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
    from pytest_seccomp.profiles.model import Profile, build_profile

    default = Profile.load(DOCKER_DEFAULT)
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    build_profile({"read", "socket"}, default).save(small)
    build_profile({"read", "socket", "mkdir"}, default).save(big)

    show = cli("show", str(big))
    assert show.returncode == 0
    assert "  network:" in show.stdout and "socket" in show.stdout
    assert "  files:" in show.stdout and "mkdir" in show.stdout

    wider = cli("diff", str(small), str(big))
    assert (wider.returncode, wider.stdout) == (1, "+mkdir  (no known kernel CVE in the dataset)\n")
    narrower = cli("diff", str(big), str(small))
    assert (narrower.returncode, narrower.stdout) == (0, "-mkdir\n")

    assert cli("check", str(big)).returncode == 0
    too_wide = tmp_path / "wide.json"
    too_wide.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mount", "kexec_load"], "action": "SCMP_ACT_ALLOW"}]}))
    bad = cli("check", str(too_wide))
    assert bad.returncode == 1
    assert "kexec_load is allowed but the default refuses it" in bad.stdout
    assert "runtime's own set-up syscalls mount" in bad.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("[")
    error = cli("check", str(broken))
    assert error.returncode == 2 and "is not valid JSON" in error.stderr
    assert "Traceback" not in error.stderr


class RenderedText(HTMLParser):
    """Text of elements with an id, and of table cells, in the DOM Chromium rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.cells: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "br", "link"):
            return
        self._open.append((tag, dict(attrs).get("id")))
        if tag == "td":
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _tag, ident in self._open:
            if ident:
                self.by_id[ident] = self.by_id.get(ident, "") + data
        if any(tag == "td" for tag, _ in self._open) and self.cells:
            self.cells[-1] += data


def test_html_report_renders_in_chromium_with_the_profiles_numbers(committed, tmp_path):
    result = committed.runpytest_subprocess("--seccomp-record", "--seccomp-html=html")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*allows * of the default's * syscalls*"])
    page = committed.path / "html" / "pytest-seccomp__busybox.html"
    assert (committed.path / "html" / "index.html").exists()
    profile = json.loads(profile_text(committed))
    allowed = {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
               for n in rule["names"]}
    runtime = {n for rule in profile["syscalls"]
               if rule.get("comment", "").startswith("pytest-seccomp: what the runtime")
               for n in rule["names"]}
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium'}"]
    dom = subprocess.run([*chromium, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    texts = RenderedText()
    texts.feed(dom)
    ids, rows = texts.by_id, set(texts.cells)
    assert int(ids["allowed-count"]) == len(allowed)
    default_count = int(ids["default-count"])
    assert int(ids["removed-count"]) == default_count - len(allowed) > 250
    assert allowed - runtime <= rows and "test_app.py::test_mkdir" in rows
    assert runtime and all(name in ids["runtime"] or name in dom for name in runtime)
    shot = tmp_path / "page.png"
    subprocess.run([*chromium, f"--screenshot={shot}", "--window-size=1000,800", page.as_uri()],
                   capture_output=True, check=True, timeout=120)
    assert shot.stat().st_size > 10_000
