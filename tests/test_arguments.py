"""Argument rules: socket and socketpair allowed only for the address families the tests used,
end to end through the real tracer and engine, and the same rules through every reader."""

from __future__ import annotations

import subprocess

from .conftest import BUSYBOX, cli

NETWORK = f"""
import docker

def run(script):
    return docker.from_env().containers.run("{BUSYBOX}", ["sh", "-c", script],
                                            remove=True).decode()

def test_inet_and_unix():
    out = run("nc -w 1 127.0.0.1 9 </dev/null; logger hi; echo done")
    assert "done" in out
"""
PACKET = """
def test_packet():
    # AF_PACKET: arping's raw socket, which the engine's default allows with CAP_NET_RAW
    out = run("arping -c 1 -w 1 -I eth0 127.0.0.1 2>&1; echo rc=$?")
    print(out)
    assert "rc=" in out
"""


def family_rules(profile: dict) -> dict[str, set[int]]:
    """name -> families its allow rules pin argument 0 to."""
    out: dict[str, set[int]] = {}
    for rule in profile["syscalls"]:
        args = rule.get("args", [])
        if rule["action"] == "SCMP_ACT_ALLOW" and len(args) == 1 and args[0]["index"] == 0 \
                and args[0]["op"] == "SCMP_CMP_EQ" and not rule.get("includes"):
            for name in rule["names"]:
                out.setdefault(name, set()).add(args[0]["value"])
    return out


def test_socket_is_allowed_only_for_the_families_the_tests_used(record, pytester):
    pytester.makepyfile(test_net=NETWORK)
    recorded = record()
    recorded.result.assert_outcomes(passed=1)
    profile = recorded.profile("pytest-seccomp/busybox")
    assert family_rules(profile) == {"socket": {1, 2}}  # AF_UNIX (logger), AF_INET (nc)
    assert "socket" not in next(r for r in profile["syscalls"] if not r.get("args"))["names"]
    report = recorded.report["profiles"]["pytest-seccomp/busybox"]
    assert report["socket_families"] == ["AF_UNIX", "AF_INET"]
    assert {"socket(AF_INET)", "socket(AF_UNIX)"} <= set(report["first_needed_by"])
    recorded.result.stdout.fnmatch_lines(["*and 2 of its * socket families (AF_UNIX AF_INET)*"])
    path = recorded.profile_dir / "pytest-seccomp" / "busybox.json"
    assert "OK (" in cli("check", str(path)).stdout  # narrower than the default: within it
    assert "socket families:       AF_UNIX AF_INET" in cli("show", str(path)).stdout

    # enforce: the families the tests used work; any other is refused, and named
    pytester.makepyfile(test_net=NETWORK + PACKET)
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider",
                                             "-rA")
    enforced.assert_outcomes(passed=2)
    enforced.stdout.fnmatch_lines([
        "arping: socket: Operation not permitted",
        "  socket(AF_PACKET)  x1  by process 'arping' (the profile allows socket for AF_UNIX, "
        "AF_INET only)",
        "*passed anyway: socket(AF_PACKET) (arping, *",
    ])
    # the same profile as a user deploys it: AF_INET works, AF_PACKET is refused
    inet = subprocess.run(["docker", "run", "--rm", "--security-opt", f"seccomp={path}", BUSYBOX,
                           "sh", "-c", "nc -w 1 127.0.0.1 9 </dev/null; echo rc=$?"],
                          capture_output=True, text=True, check=False)
    assert "Operation not permitted" not in inet.stdout + inet.stderr
    packet = subprocess.run(["docker", "run", "--rm", "--security-opt", f"seccomp={path}",
                             BUSYBOX, "arping", "-c", "1", "-w", "1", "-I", "eth0", "127.0.0.1"],
                            capture_output=True, text=True, check=False)
    assert "socket: Operation not permitted" in packet.stderr

    # the drift check names the new family; a whole run records it
    drift = record("--seccomp-check")
    assert drift.result.ret == 6
    drift.result.stdout.fnmatch_lines(["*+socket(AF_PACKET) (test_net.py::test_packet, *"])
    assert family_rules(recorded.profile("pytest-seccomp/busybox")) == {"socket": {1, 2}}
    assert family_rules(record().profile("pytest-seccomp/busybox")) == {"socket": {1, 2, 17}}


def test_names_only_when_asked(record, pytester):
    pytester.makepyfile(test_net=NETWORK)
    recorded = record("--seccomp-args=names")
    recorded.result.assert_outcomes(passed=1)
    profile = recorded.profile("pytest-seccomp/busybox")
    assert family_rules(profile) == {}
    assert "socket" in recorded.allowed("pytest-seccomp/busybox")
    assert recorded.report["profiles"]["pytest-seccomp/busybox"]["socket_families"] is None
    # going from names to families is no widening: the drift check passes, and says it narrows
    narrower = record("--seccomp-check")
    assert narrower.result.ret == 0, narrower.result.stdout.str()
    narrower.result.stdout.fnmatch_lines(["*narrower*"])
    bad = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-args=all")
    assert bad.ret == 4 and "'all' is not a choice" in bad.stderr.str()
