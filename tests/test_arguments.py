"""Argument rules: socket and socketpair allowed only for the address families the tests used,
end to end through the real tracer and engine, and the same rules through every reader."""

from __future__ import annotations

import subprocess

from .conftest import BUSYBOX, cli, require_image

WEBAPP = "pytest-seccomp/webapp:latest"  # Debian's python3: glibc's getaddrinfo

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


# a pytester test file's start: run(code) is the webapp image's python3 -c code, its output
PYTHON_RUN = f"""
import docker

def run(code):
    return docker.from_env().containers.run("{WEBAPP}", ["python3", "-c", code],
                                            remove=True).decode()
"""


def python_in_webapp(code: str, *security: str) -> subprocess.CompletedProcess[str]:
    """`docker run` of the webapp image's python3, as a user deploys it (`--security-opt`s)."""
    options = [part for option in security for part in ("--security-opt", option)]
    return subprocess.run(["docker", "run", "--rm", *options, WEBAPP, "python3", "-c", code],
                          capture_output=True, text=True, check=False)


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
    # families alone (any type), set in the ini file: the default pins types too (below)
    pytester.makeini("[pytest]\nseccomp_args = sockets\n")
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
    bad = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-args=everything")
    assert bad.ret == 4 and "'everything' is not a choice" in bad.stderr.str()



RESOLVE = PYTHON_RUN + """
def test_resolves_a_name():
    out = run("import socket; print(socket.getaddrinfo('localhost', 80, "
              "flags=socket.AI_ADDRCONFIG, type=socket.SOCK_STREAM))")
    assert "127.0.0.1" in out
"""
# socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER): the way in of the nf_tables exploits
def socket_try(arguments: str) -> str:
    """A python3 -c script: 'opened', or 'refused ERRNO', for socket.socket(ARGUMENTS)."""
    return (f"import socket\ntry:\n    socket.socket({arguments})\n    print('opened')\n"
            "except OSError as exc:\n    print('refused', exc.errno)")


def refused_test(name: str, script: str) -> str:
    """A test (for the pytester file) that runs `script` and expects the filter's EPERM."""
    return f"""

def test_{name}():
    out = run({script!r})
    print(out)
    assert "refused 1" in out  # EPERM: the filter's answer
"""


NETFILTER_SOCKET = socket_try("socket.AF_NETLINK, socket.SOCK_RAW, 12")
NETFILTER = refused_test("netfilter", NETFILTER_SOCKET)


def test_netlink_is_allowed_only_for_the_protocols_the_tests_used(record, pytester):
    """glibc's getaddrinfo opens socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE): a suite that only
    resolves names gets a profile where NETLINK_NETFILTER is refused, in enforce and where the
    user deploys."""
    import docker

    require_image(docker.from_env(), WEBAPP)
    pytester.makepyfile(test_resolve=RESOLVE)
    recorded = record()
    recorded.result.assert_outcomes(passed=1)
    rules = [r["args"] for r in recorded.profile("pytest-seccomp/webapp")["syscalls"]
             if r["names"] == ["socket"]]
    assert [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}] in rules, rules
    assert [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}] not in rules
    report = recorded.report["profiles"]["pytest-seccomp/webapp"]
    assert "AF_NETLINK(NETLINK_ROUTE)" in report["socket_families"]
    assert "socket(AF_NETLINK, NETLINK_ROUTE)" in report["first_needed_by"]
    path = recorded.profile_dir / "pytest-seccomp" / "webapp.json"
    assert "AF_NETLINK(NETLINK_ROUTE)" in cli("show", str(path)).stdout
    assert "OK (" in cli("check", str(path)).stdout

    # enforce: names still resolve; NETLINK_NETFILTER is refused, and named with its protocol
    pytester.makepyfile(test_resolve=RESOLVE + NETFILTER)
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider", "-rA")
    enforced.assert_outcomes(passed=2)
    enforced.stdout.fnmatch_lines([
        "*socket(AF_NETLINK, NETLINK_NETFILTER)  x1  by process 'python3' (the profile allows "
        "socket for *AF_NETLINK(NETLINK_ROUTE) only)",
    ])
    # as a user deploys it: the same
    for code, expected in (("import socket; print(socket.getaddrinfo('localhost', 80, "
                            "flags=socket.AI_ADDRCONFIG))", "127.0.0.1"),
                           (NETFILTER_SOCKET, "refused 1")):
        deployed = python_in_webapp(code, f"seccomp={path}")
        assert expected in deployed.stdout, deployed.stdout + deployed.stderr
    # under the engine's default it opens: no capability is needed, only the profile stops it
    plain = python_in_webapp(NETFILTER_SOCKET)
    assert "opened" in plain.stdout, plain.stdout + plain.stderr

    # --seccomp-args=families: AF_NETLINK whatever the protocol; back to protocols narrows
    pytester.makepyfile(test_resolve=RESOLVE)
    wide = record("--seccomp-args=families")
    assert [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}] in [
        r["args"] for r in wide.profile("pytest-seccomp/webapp")["syscalls"]
        if r["names"] == ["socket"]]
    narrower = record("--seccomp-check")
    assert narrower.result.ret == 0, narrower.result.stdout.str()
    narrower.result.stdout.fnmatch_lines(["*narrower*"])


TCP_AND_UDP = PYTHON_RUN + """
def test_tcp_and_udp():
    out = run("import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); "
              "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close(); print('made')")
    assert "made" in out
"""
# socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): ping's, and any packet crafting's; the engine's
# default allows it to root in the container (CAP_NET_RAW is in Docker's default set)
RAW_SOCKET = socket_try("socket.AF_INET, socket.SOCK_RAW, 1")
RAW = refused_test("raw", RAW_SOCKET)


def test_all_pins_the_socket_types_the_tests_used_so_raw_sockets_are_refused(record, pytester):
    """--seccomp-args=all: socket(AF_INET) only for the types the tests opened (argument 1's
    type bits, whatever SOCK_NONBLOCK / SOCK_CLOEXEC): SOCK_RAW is refused under enforce and
    where the user deploys, while the engine's default lets root in the container open it."""
    import docker

    require_image(docker.from_env(), WEBAPP)
    pytester.makepyfile(test_inet=TCP_AND_UDP)
    recorded = record("--seccomp-args=all")
    recorded.result.assert_outcomes(passed=1)
    rules = [r["args"] for r in recorded.profile("pytest-seccomp/webapp")["syscalls"]
             if r["names"] == ["socket"]]
    for kind in (1, 2):  # SOCK_STREAM, SOCK_DGRAM
        assert [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 15, "valueTwo": kind, "op": "SCMP_CMP_MASKED_EQ"}] \
            in rules, rules
    assert [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}] not in rules
    report = recorded.report["profiles"]["pytest-seccomp/webapp"]
    assert {"AF_INET(SOCK_STREAM)", "AF_INET(SOCK_DGRAM)"} <= set(report["socket_families"])
    assert "socket(AF_INET, SOCK_STREAM)" in report["first_needed_by"]
    path = recorded.profile_dir / "pytest-seccomp" / "webapp.json"
    assert "AF_INET(SOCK_STREAM)" in cli("show", str(path)).stdout
    assert "OK (" in cli("check", str(path)).stdout

    # enforce: TCP and UDP still open; SOCK_RAW is refused, and named with its type
    pytester.makepyfile(test_inet=TCP_AND_UDP + RAW)
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider", "-rA")
    enforced.assert_outcomes(passed=2)
    enforced.stdout.fnmatch_lines([
        "*socket(AF_INET, SOCK_RAW)  x1  by process 'python3' (the profile allows socket for "
        "*AF_INET(SOCK_STREAM)*only)",
    ])
    # as a user deploys it: flags on the type change nothing, SOCK_RAW is refused
    stream = ("import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM | "
              "socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC); print('opened')")
    for code, expected in ((stream, "opened"), (RAW_SOCKET, "refused 1")):
        deployed = python_in_webapp(code, f"seccomp={path}")
        assert expected in deployed.stdout, deployed.stdout + deployed.stderr
    plain = python_in_webapp(RAW_SOCKET)
    assert "opened" in plain.stdout, plain.stdout + plain.stderr

    # the default (`sockets`) folds types into their family: back to it is a widening only of
    # the types beyond those used, shown as such
    pytester.makepyfile(test_inet=TCP_AND_UDP)
    wider = record("--seccomp-check", "--seccomp-args=sockets")
    assert wider.result.ret == 6, wider.result.stdout.str()
    wider.result.stdout.fnmatch_lines(["*socket(AF_INET)*"])
