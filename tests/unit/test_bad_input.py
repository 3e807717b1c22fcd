"""Every CLI verb on what users and attackers hand it: files Docker reads differently from how
a naive reader does (each refused by `check` and named by `diff`), files that are not files,
files too large, deep, long or badly encoded, and seeded fuzzing of each verb. Every input ends
in exit 0, 1 or 2 with at most one error paragraph; never a traceback, never a hang.

PYTEST_SECCOMP_FUZZ_EXAMPLES sets the fuzz's inputs per verb (benchmarks/bench_fuzz.py runs
it longer)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_seccomp.cli import main
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "examples" / "webapp" / "seccomp-profiles" / "pytest-seccomp" / "redis.json"
FUZZ = int(os.environ.get("PYTEST_SECCOMP_FUZZ_EXAMPLES", "500"))
BASE = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}]}


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A verb that blocks (a FIFO's open) fails the test instead of hanging it."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(*argv: str | Path) -> tuple[int, str, str]:
    """The CLI in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(20):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as usage:  # argparse's own usage errors
            code = int(usage.code or 0)
    return code, out.getvalue(), err.getvalue()


def answers(code: int, out: str, err: str) -> None:
    """The CLI's contract: a status from its table, an error as one paragraph."""
    assert code in (0, 1, 2), (code, out, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith("pytest-seccomp: error: ") and err.count("\n") == 1, err


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


# -- files Docker reads differently: refused by check, named by diff ----------------------------
def with_rules(*rules: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**BASE, "syscalls": [*BASE["syscalls"], *rules], **top}


FOOLING = {
    "a second, folded defaultAction that allows":
        '{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": "SCMP_ACT_ALLOW", "syscalls": '
        '[{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}',
    "a folded Names key adding kexec_load":
        json.dumps(with_rules()).replace('"names": ["read", "write"]',
                                         '"names": ["read", "write"], "Names": ["kexec_load"]'),
    "the long s in syscalls, whose rules the engine reads":
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [], "\u017fyscalls": '
        '[{"names": ["kexec_load"], "action": "SCMP_ACT_ALLOW"}]}',
    "empty names beside name":
        json.dumps(with_rules({"names": [], "name": "kexec_load", "action": "SCMP_ACT_ALLOW"})),
    "a LOG rule, which runs the call":
        json.dumps(with_rules({"names": ["kexec_load"], "action": "SCMP_ACT_LOG"})),
    "a TRACE rule, which a tracer may let run":
        json.dumps(with_rules({"names": ["kexec_load"], "action": "SCMP_ACT_TRACE"})),
    "an unconditional clone in a rule commented as the runtime's":
        json.dumps(with_rules({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                               "comment": "pytest-seccomp: what the runtime needs (runc 1.1.5) "
                                          "after installing the filter, before the app"})),
    "s390x's clone rule (flags in argument 1) in a file for s390x and x86_64":
        json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                    "archMap": [{"architecture": "SCMP_ARCH_S390X", "subArchitectures": []},
                                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
                    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                                 {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                                     {"index": 1, "value": 2114060288, "valueTwo": 0,
                                      "op": "SCMP_CMP_MASKED_EQ"}]}]}),
}


@pytest.mark.parametrize("how", FOOLING)
def test_a_file_docker_reads_wider_is_refused_by_check_and_named_by_diff(tmp_path: Path,
                                                                         how: str):
    base = write(tmp_path / "base.json", BASE)
    fooling = write(tmp_path / "fooling.json", FOOLING[how])
    code, out, err = cli("check", fooling, f"--default={DOCKER_DEFAULT}")
    answers(code, out, err)
    assert code == 1 and "NOT OK" in out, (how, out, err)
    code, out, err = cli("diff", base, fooling)
    answers(code, out, err)
    assert code == 1 and out.strip() != "no difference", (how, out)


def test_a_file_the_engine_runs_unconfined_is_an_error_naming_why(tmp_path: Path):
    fooling = write(tmp_path / "p.json", '{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": ""}')
    for verb in (("check", fooling), ("diff", fooling, fooling), ("show", fooling)):
        code, out, err = cli(*verb)
        answers(code, out, err)
        assert code == 2 and "unconfined" in err


def test_the_runtime_rule_is_read_by_what_it_holds_not_by_its_comment(tmp_path: Path):
    commented = write(tmp_path / "p.json", with_rules(
        {"names": ["ptrace", "setuid"], "action": "SCMP_ACT_ALLOW",
         "comment": "pytest-seccomp: what the runtime needs (runc 1.1.5) after installing the "
                    "filter, before the app"}))
    code, out, _ = cli("show", commented)
    assert code == 0
    lines = out.splitlines()
    runtime_line = next(line for line in lines if "the runtime needs" in line)
    assert "setuid" in runtime_line and "ptrace" not in runtime_line
    assert any("ptrace" in line for line in lines if "the runtime needs" not in line)


def test_spo_fields_the_crd_lacks_do_not_narrow_a_rule(tmp_path: Path):
    """The operator's CRD has no includes: in the cluster the rule applies unconditionally."""
    resource = {"apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
                "kind": "SeccompProfile", "metadata": {"name": "x"},
                "spec": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["unshare"], "action": "SCMP_ACT_ALLOW",
                     "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                    {"names": ["read"], "Names": ["kexec_load"], "action": "SCMP_ACT_ALLOW"}]}}
    spo = tmp_path / "p.yaml"
    spo.write_text(yaml.safe_dump(resource))
    code, out, err = cli("check", spo, f"--default={DOCKER_DEFAULT}")
    answers(code, out, err)
    assert code == 1 and "unshare" in out and "kexec_load" not in out  # (Names: pruned)


# -- what is not a profile file: refused by kind or bound, at once ------------------------------
def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


NOT_FILES = {
    "a FIFO": lambda d: fifo(d / "p.json"),
    "a FIFO YAML": lambda d: fifo(d / "p.yaml"),
    "/dev/zero": lambda d: Path("/dev/zero"),
    "a directory": lambda d: d,
    "a missing file": lambda d: d / "missing.json",
}
BAD_BYTES = {
    "larger than the bound": b'{"defaultAction": "SCMP_ACT_ERRNO", "x": "' + b"a" * (5 << 20)
    + b'"}',
    "10,000 levels of nesting": b'{"defaultAction": "SCMP_ACT_ERRNO", "x": ' + b"[" * 10000
    + b"]" * 10000 + b"}",
    "a 5,000-digit integer": b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": '
    + b"9" * 5000 + b"}",
    "NaN": b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": NaN}',
    "a non-UTF-8 byte outside a string": b'{"defaultAction": \xff"SCMP_ACT_ERRNO"}',
    "syscalls: false": b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": false}',
    "a number as comment": b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": '
    b'["read"], "action": "SCMP_ACT_ALLOW", "comment": 5}]}',
    "minKernel abc": b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
    b'"action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "abc"}}]}',
    "argument index 7": b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
    b'"action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
    "both architectures and archMap": b'{"defaultAction": "SCMP_ACT_ERRNO", "architectures": '
    b'["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
}


@pytest.mark.parametrize("what", NOT_FILES)
def test_what_is_not_a_file_is_refused_by_every_verb_without_blocking(tmp_path: Path, what: str):
    target = NOT_FILES[what](tmp_path)
    good = write(tmp_path / "good.json", BASE) if target != tmp_path else write(
        tmp_path.parent / f"{tmp_path.name}-good.json", BASE)
    verbs = [("check", target), ("show", target), ("diff", good, target),
             ("compose-override", target, f"-o={tmp_path / 'c.yml'}")]
    if target != tmp_path:  # (export takes a directory of profiles too)
        verbs.append(("export", target, "--format=spo", f"-o={tmp_path / 'out'}"))
    for verb in verbs:
        code, out, err = cli(*verb)
        answers(code, out, err)
        assert code == 2, (verb, out, err)


def test_merge_refuses_a_folder_holding_a_fifo_and_writes_nothing(tmp_path: Path):
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "x.json", BASE)
    fifo(tmp_path / "a" / "y.json")
    code, out, err = cli("merge", tmp_path / "a", f"-o={tmp_path / 'out'}")
    answers(code, out, err)
    assert code == 2 and "FIFO" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("what", BAD_BYTES)
def test_a_bad_file_is_one_paragraph_naming_what_to_do(tmp_path: Path, what: str):
    bad = tmp_path / "p.json"
    bad.write_bytes(BAD_BYTES[what])
    for verb in (("check", bad), ("show", bad), ("diff", bad, bad)):
        code, out, err = cli(*verb)
        answers(code, out, err)
        assert code == 2, (what, verb, out)


def test_strings_decode_as_go_decodes_them(tmp_path: Path):
    """An invalid byte inside a string is U+FFFD (an unknown name, as to the engine); an
    argument without value is Go's zero; a lone surrogate and a non-UTF-8 file name print."""
    odd = tmp_path / "p.json"
    odd.write_bytes(b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["re\xffad", '
                    b'"\\ud800"], "action": "SCMP_ACT_ALLOW"}, {"names": ["socket"], "action": '
                    b'"SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}')
    code, out, err = cli("show", odd)
    assert code == 0, err
    assert "re\ufffdad" in out and "socket families:       AF_UNSPEC" in out  # (0)
    weird = Path(os.fsdecode(bytes(tmp_path) + b"/\xff.json"))
    write(weird, BASE)
    shown = subprocess.run([sys.executable, "-m", "pytest_seccomp", "check", weird],
                           capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                           check=False)
    assert shown.returncode == 0 and b"Traceback" not in shown.stderr, shown.stderr
    for verb in (("show", odd), ("check", odd)):
        strict = subprocess.run([sys.executable, "-m", "pytest_seccomp", *verb],
                                capture_output=True, check=False,
                                env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
        assert b"Traceback" not in strict.stderr, strict.stderr


def test_merge_of_errno_rules_with_and_without_errno_ret_answers(tmp_path: Path):
    for name, errno in (("a", None), ("b", 1)):
        (tmp_path / name).mkdir()
        rule: dict[str, Any] = {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}
        if errno is not None:
            rule["errnoRet"] = errno
        write(tmp_path / name / "x.json", with_rules(rule))
    code, out, err = cli("merge", tmp_path / "a", tmp_path / "b", f"-o={tmp_path / 'o'}")
    answers(code, out, err)
    assert code == 2 and "different engine default" in err
    code, out, err = cli("merge", tmp_path / "a", tmp_path / "b", f"-o={tmp_path / 'o'}",
                         "--force")
    answers(code, out, err)
    assert code == 0 and (tmp_path / "o" / "x.json").is_file()


def test_yaml_keys_of_mixed_types_answer(tmp_path: Path):
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  1: {image: a}\n  web: {image: b}\n")
    code, out, err = cli("compose-override", compose, f"--profile-dir={tmp_path}",
                         f"-o={tmp_path / 'o.yml'}")
    answers(code, out, err)
    assert code == 2 and "no recorded profile" in err
    spo = tmp_path / "p.yaml"
    spo.write_text("kind: SeccompProfile\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n"
                   "  - {names: [read], action: SCMP_ACT_ALLOW, 1: x, includes: {2: y}}\n")
    answers(*cli("show", spo))
    dated = tmp_path / "dated.yaml"  # YAML's own types (a date) where the engine wants a number
    dated.write_text("kind: SeccompProfile\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n"
                     "  - {names: [read], action: SCMP_ACT_ERRNO, errnoRet: 2024-01-01}\n")
    code, out, err = cli("show", dated)
    answers(code, out, err)
    assert code == 2 and "2024-01-01" in err


# -- seeded fuzzing of every verb -----------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.sampled_from(["defaultAction", "DefaultAction", "syscalls", "names", "Names", "name",
                         "action", "args", "index", "value", "op", "includes", "caps",
                         "minKernel", "archMap", "architectures", "errnoRet", "comment", "kind",
                         "spec", "services", "image"]) | st.text(max_size=4), kids, max_size=4),
    max_leaves=16)


def mutations() -> st.SearchStrategy[bytes]:
    """A recorded profile with one byte changed, cut, or a random JSON value in one place."""
    text = RECORDED.read_bytes()
    return st.one_of(
        st.tuples(st.integers(0, len(text) - 1), st.integers(0, 255)).map(
            lambda c: text[:c[0]] + bytes([c[1]]) + text[c[0] + 1:]),
        st.integers(0, len(text)).map(lambda cut: text[:cut]),
        json_values.map(lambda v: text.replace(b'"SCMP_ACT_ALLOW"', json.dumps(v).encode(), 1)))


inputs = st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                   json_values.map(lambda v: yaml.safe_dump(v).encode()), mutations())
VERBS = {
    "check": lambda f, d: ("check", f, f"--default={DOCKER_DEFAULT}"),
    "show": lambda f, d: ("show", f),
    "diff": lambda f, d: ("diff", RECORDED, f),
    "merge": lambda f, d: ("merge", f.parent, f"-o={d / 'merged'}"),
    "export": lambda f, d: ("export", f, "--format=k8s-localhost", f"-o={d / 'exported'}"),
    "compose-override": lambda f, d: ("compose-override", f, f"--profile-dir={f.parent}",
                                      f"-o={d / 'override.yml'}"),
}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_fuzz_every_verb(tmp_path_factory: pytest.TempPathFactory, verb: str, suffix: str):
    """Random bytes, random JSON and YAML, and mutations of a recorded profile (half of the
    inputs per verb as .json, half as .yaml): exit 0, 1 or 2, one paragraph, no hang."""
    @settings(max_examples=FUZZ // 2, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def run(data: bytes) -> None:
        where = tmp_path_factory.mktemp("fuzz")
        (where / "in").mkdir()
        target = where / "in" / f"x{suffix}"
        target.write_bytes(data)
        answers(*cli(*VERBS[verb](target, where)))
    run()


# -- options and ini values: checked on every run, with a mode or without ------------------------
@pytest.mark.parametrize(("args", "ini", "says"), [
    (["--seccomp-record", "--seccomp-map-size=\u0663\u0663"], "", "is not a map size"),
    (["--seccomp-profile-dir=/dev/null"], "", "--seccomp-profile-dir goes with --seccomp-record"),
    (["--seccomp-nnp", "--seccomp-map-size=64"], "", "go with --seccomp-record or"),
    ([], "seccomp_nnp = maybe", "seccomp_nnp = 'maybe' in the ini file is not a truth value"),
    ([], "seccomp_args = everything", "seccomp_args = 'everything' in the ini file"),
    ([], "seccomp_tracer = remote", "seccomp_tracer = 'remote' in the ini file"),
])
def test_a_bad_option_or_ini_value_is_a_usage_error_even_without_a_mode(
        pytester: pytest.Pytester, args: list[str], ini: str, says: str):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{says}*"])
    assert "Traceback" not in result.stderr.str()
