"""Executable memory, end to end through the real tracer and engine: the memory syscalls are
allowed for executable memory only as the tests asked for it (--seccomp-args=all, the default),
so a writable and executable mapping, the way a payload is made runnable, is refused."""

from __future__ import annotations

from .conftest import cli, require_image
from .test_arguments import PYTHON_RUN, WEBAPP, python_in_webapp

RUN = PYTHON_RUN + """
def test_maps_memory():
    out = run("import mmap; m = mmap.mmap(-1, 4096); m.write(b'x'); print('mapped')")
    assert "mapped" in out
"""


def mmap_try(prot: str) -> str:
    """A python3 -c script: 'mapped', or 'refused ERRNO', for an anonymous mmap of `prot`."""
    return (f"import mmap\ntry:\n    mmap.mmap(-1, 4096, prot={prot})\n    print('mapped')\n"
            "except OSError as exc:\n    print('refused', exc.errno)")


RWX = mmap_try("mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC")
RX = mmap_try("mmap.PROT_READ | mmap.PROT_EXEC")
ENFORCED = RUN + f"""

def test_writable_and_executable():
    out = run({RWX!r})
    print(out)
    assert "refused 1" in out  # EPERM: the filter's answer

def test_executable_alone():
    assert "mapped" in run({RX!r})  # as the loader maps a library's code
"""


def test_writable_and_executable_memory_is_refused_unless_the_tests_asked_for_it(record,
                                                                                 pytester):
    import docker

    require_image(docker.from_env(), WEBAPP)
    pytester.makepyfile(test_memory=RUN)
    recorded = record("--seccomp-html=html")
    recorded.result.assert_outcomes(passed=1)
    page = (pytester.path / "html" / "pytest-seccomp__webapp.html").read_text()
    assert 'id="executable-refused">3<' in page and "<code>mmap(PROT_EXEC)</code>" in page
    rules = {tuple(r["names"]): r.get("args") for r in
             recorded.profile("pytest-seccomp/webapp")["syscalls"] if r.get("args")}
    # python3's loader maps libraries PROT_READ|PROT_EXEC; nothing asks for more
    assert rules[("mmap", "mprotect")] == [{"index": 2, "value": 4, "op": "SCMP_CMP_MASKED_EQ"}]
    assert rules[("mmap",)] == [{"index": 2, "value": 6, "valueTwo": 4,
                                 "op": "SCMP_CMP_MASKED_EQ"}]
    report = recorded.report["profiles"]["pytest-seccomp/webapp"]
    assert report["executable_memory"] == {
        "allowed": ["mmap(PROT_EXEC)"],
        "refused": ["mmap(PROT_WRITE|PROT_EXEC)", "mprotect(PROT_EXEC)",
                    "mprotect(PROT_WRITE|PROT_EXEC)"]}
    assert "mmap(PROT_EXEC)" in report["arguments_used"]
    recorded.result.stdout.fnmatch_lines(["  executable memory: mmap(PROT_EXEC) only; refused: "
                                          "mmap(PROT_WRITE|PROT_EXEC) mprotect(PROT_EXEC) *"])
    path = recorded.profile_dir / "pytest-seccomp" / "webapp.json"
    assert "OK (" in cli("check", str(path)).stdout  # within the default
    shown = cli("show", str(path)).stdout
    assert "executable memory:     mmap(PROT_EXEC) (refused: mmap(PROT_WRITE|PROT_EXEC)" in shown
    assert "mprotect" in shown.split("executable memory:")[0]  # listed by purpose, as a name

    # enforce: executable alone maps, writable and executable is refused, and named
    pytester.makepyfile(test_memory=ENFORCED)
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider", "-rA")
    enforced.assert_outcomes(passed=3)
    enforced.stdout.fnmatch_lines([
        "*mmap(PROT_WRITE|PROT_EXEC)  x1  by process 'python3' (the profile allows mmap only for "
        "memory that is not executable, or executable and not writable (mmap(PROT_EXEC)))",
    ])
    # as a user deploys it: the same; under the engine's default the mapping is made
    assert "refused 1" in python_in_webapp(RWX, f"seccomp={path}").stdout
    assert "mapped" in python_in_webapp(RX, f"seccomp={path}").stdout
    assert "mapped" in python_in_webapp(RWX).stdout

    # a profile that does not filter memory (--seccomp-args=sockets) re-recorded under the
    # default is a narrowing, never drift
    pytester.makepyfile(test_memory=RUN)
    record("--seccomp-args=sockets").result.assert_outcomes(passed=1)
    narrower = record("--seccomp-check")
    assert narrower.result.ret == 0, narrower.result.stdout.str()
    narrower.result.stdout.fnmatch_lines(["*narrower*"])
