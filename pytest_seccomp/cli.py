"""`pytest-seccomp` / `python -m pytest_seccomp`: look at and check profiles outside pytest."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
from pathlib import Path

import yaml

from .deploy.compose import write_compose_override
from .deploy.export import (
    KUBELET_DIR,
    for_machine,
    load_any,
    pod_snippet,
    problems_per_machine,
    profile_name_of,
    resolve,
    resource_name,
    to_spo,
)
from .deploy.merge import merge_dirs
from .errors import SeccompError
from .profiles.arguments import FAMILY_SYSCALLS, family_name, in_family_order, rule_family
from .profiles.engine_default import EngineDefault, EngineInfo, find_default, version_default
from .profiles.model import ALLOW, NATIVE_ARCH, Profile, is_memory_rule, write_atomic
from .profiles.purposes import group
from .profiles.runtimes import RuntimePath, measured_table, missing_by_path, version_tuple
from .profiles.stakes import closed_line, open_entries, rating
from .version import __version__

EXIT_OK, EXIT_NOT_OK, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3  # the CLI's exit statuses
EXIT_STATUSES = f"""exit statuses:
  {EXIT_OK}  OK (check), no difference or narrower (diff), done (show, merge, export, ...)
  {EXIT_NOT_OK}  NOT OK: wider than the default, or lacking a runtime's steps (check); B wider
     (diff); recording cannot work here (doctor)
  {EXIT_ERROR}  the input or the command line cannot be used (one paragraph on stderr)
  {EXIT_UNKNOWN}  UNKNOWN: check --runtime names a runtime nothing was measured for"""


def _profiles_in(given: str) -> list[str]:
    """A file, or every profile under a directory (JSON and SPO YAML), in a fixed order."""
    path = Path(given)
    if not path.is_dir():
        return [given]
    found = sorted(str(p) for p in path.rglob("*") if p.suffix in (".json", ".yaml", ".yml")
                   and p.is_file())
    if not found:
        raise SeccompError(f"{given} holds no profile (*.json, *.yaml); give a profile file or "
                           "the directory the recording wrote (seccomp-profiles/).")
    return found


def _check(args: argparse.Namespace) -> int:
    """valid, deny by default, not wider than the engine's default, no runtime set-up syscalls"""
    paths = _profiles_in(args.profile)
    if args.engine_version:
        default, against = version_default(args.engine_version)
    else:  # (asked once, whatever the number of profiles)
        default = find_default(args.engine if args.default else _engine_info(args.engine),
                               args.default, "--default PATH")
        against = str(default.path)
    return max(_check_one(args, path, default, against) for path in paths)


def _check_one(args: argparse.Namespace, path: str, default: EngineDefault, against: str) -> int:
    profile = load_any(path)
    problems, machines = problems_per_machine(profile, default.profile)
    if profile.is_resolved or default.profile.is_resolved:
        against += f" as it applies on {', '.join(machines)} with the default capabilities"
    if problems:
        print(f"{path}: NOT OK")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{path}: OK ({len(profile.allowed)} syscalls allowed, deny by default, "
          f"not wider than {against})")
    print(f"  {closed_line(profile, default.profile)}")
    mode = ("starts only with no-new-privileges" if profile.needs_nnp
            else "starts with or without no-new-privileges")
    print(f"  {mode}" + (f"; the runtime's own steps were recorded under {profile.runtime}"
                         if profile.runtime else ""))
    if profile.runtimes_covered:
        print(f"  its runtime rule also covers {profile.runtimes_covered}")
    return _check_runtime(profile, args.runtime) if args.runtime else 0


def _engine_info(kind: str) -> EngineInfo:
    """What the engine at DOCKER_HOST (or the default socket) says it is, when one answers and
    is of `kind`: its version picks the default this package ships. Nothing known otherwise."""
    from .interception.engine import detect_engine, user_engine

    try:
        info, _ = detect_engine(user_engine())
    except SeccompError:
        return EngineInfo(kind=kind)
    return info if info.version and info.kind == kind else EngineInfo(kind=kind)


def _check_runtime(profile: Profile, wanted: str) -> int:
    """`--runtime runc@1.3.6` (or `runc`: every measured version): whether the profile holds
    the runtime's measured steps after installing the filter, in each way it may start."""
    name, _, version = wanted.replace(" ", "@").partition("@")
    table = measured_table()
    versions = [r for r in table.named(name)
                if not version or version_tuple(r.version) == version_tuple(version)]
    if not versions:
        print(f"  {wanted}: UNKNOWN, not measured, so nothing can be said of it (exit "
              f"status {EXIT_UNKNOWN}); the measured runtimes are "
              f"{', '.join(r.label for r in table.runtimes)}: check against one of them, or "
              "record where you deploy")
        return EXIT_UNKNOWN
    modes = [True] if profile.needs_nnp else [False, True]  # with and without NNP
    failed = False
    for runtime in versions:
        for nnp in modes:
            gaps = missing_by_path(profile.allowed, runtime.label, nnp, table) or {}
            how = "with no-new-privileges" if nnp else "without no-new-privileges"
            start = gaps.pop(RuntimePath.RUN, frozenset())
            init = gaps.pop(RuntimePath.INIT, frozenset())
            if start:
                print(f"  does NOT start under {runtime.label} {how}: it lacks "
                      f"{' '.join(sorted(start))}, which {runtime.label} makes after installing "
                      f"the filter (measured under {runtime.engine})")
            elif not gaps:
                print(f"  starts under {runtime.label} {how} (holds its measured steps, also "
                      "of exec, health checks and restarts)")
            else:
                print(f"  starts under {runtime.label} {how}")
            for path, gap in gaps.items():
                print(f"  its {path} under {runtime.label} {how} may fail: it lacks "
                      f"{' '.join(sorted(gap))}, which {runtime.label} makes on that path "
                      "after installing the filter")
            if init:
                print(f"  deployed with --init, the engine's init would need "
                      f"{' '.join(sorted(init))} as measured under {runtime.label} {how} (record "
                      "with init=True where you deploy with it)")
            failed = failed or bool(start or gaps)
    return 1 if failed else 0


def _show(args: argparse.Namespace) -> int:
    """the allowed names grouped by purpose, then the conditional and non-allow rules"""
    for path in _profiles_in(args.profile):
        _show_one(path)
    return EXIT_OK


def _show_one(path: str) -> None:
    profile = load_any(path)
    plain = {n for c, names in profile.rules.items() if c.action == ALLOW
             and (c.unconditional or is_memory_rule(c, names)) for n in names} \
        - profile.runtime_only
    print(f"{path}: {len(profile.allowed)} syscalls allowed, "
          f"default action {profile.default_action}")
    for purpose, names in group(plain).items():
        print(f"  {purpose + ':':<22} {' '.join(names)}")
    if profile.runtime_only:
        print(f"  {'the runtime needs:':<22} {' '.join(sorted(profile.runtime_only))} "
              f"({profile.runtime})")
    for name in FAMILY_SYSCALLS:
        families = profile.families(name)
        if families:
            print(f"  {name + ' families:':<22} {' '.join(map(family_name, in_family_order(families)))}")
    memory = profile.executable_memory
    if memory is not None:
        print(f"  {'executable memory:':<22} {' '.join(memory[0]) or 'none'}"
              + (f" (refused: {' '.join(memory[1])})" if memory[1] else ""))
    for entry in sorted(open_entries(profile)):
        print(f"  {'known exploit path:':<22} {entry}: {rating(entry)}")
    for condition in sorted(profile.rules, key=lambda c: c.sort_key()):
        if is_memory_rule(condition, profile.rules[condition]):
            continue
        if condition.action == ALLOW and (condition.unconditional or (
                rule_family(condition.args) is not None and not condition.includes
                and not condition.excludes and profile.rules[condition] <= set(FAMILY_SYSCALLS))):
            continue
        extra = {k: v for k, v in condition.to_json().items() if k != "action"}
        verb = "allow" if condition.action == ALLOW else condition.action
        print(f"  {verb} {' '.join(sorted(profile.rules[condition]))} if {json.dumps(extra)}")


def _diff(args: argparse.Namespace) -> int:
    """what B allows that A does not (+) and the reverse (-); exit 1 when B is wider"""
    a, b = load_any(args.a), load_any(args.b)
    if a.is_resolved != b.is_resolved:
        # a Kubernetes export (no includes/excludes) against the recorded file: the recorded one
        # as it applies on the export's machine with the default capabilities, as exported
        machine = (a if a.is_resolved else b).machine or "x86_64"
        a, b = (a, resolve(b, machine)) if a.is_resolved else (resolve(a, machine), b)
    diff = a.diff(b)
    for line in diff.lines():
        entry = line[1:].split(" [", 1)[0]
        print(f"{line}  ({rating(entry)})" if line.startswith("+") else line)
    if not diff:
        print("no difference")
    return 1 if diff.widens else 0


def _merge(args: argparse.Namespace) -> int:
    """union of the profiles of several directories (CI shards), file by file"""
    written = merge_dirs([Path(d) for d in args.directories], Path(args.output), args.force)
    for path in written:
        print(f"merged {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """Kubernetes files: a kubelet Localhost profile and its securityContext, or an SPO resource"""
    source, output = Path(args.directory), Path(args.output)
    paths = sorted(source.rglob("*.json")) if source.is_dir() else [source]
    prefix = args.prefix.strip("/")
    for path in paths:
        name = profile_name_of(path, source)
        resolved, mapped, dropped = for_machine(resolve(Profile.load(path), args.machine),
                                                args.machine)
        if mapped or dropped:
            print(f"{name}: for {args.machine}, which has the generic syscall table only: "
                  + "; ".join([f"{old} -> {' '.join(new)}" for old, new in sorted(mapped.items())]
                              + ([f"dropped {' '.join(sorted(dropped))} (no {args.machine} "
                                  "syscall)"] if dropped else [])))
        if args.format == "spo":
            target = output / f"{resource_name(name)}.yaml"
            write_atomic(target, yaml.safe_dump(to_spo(name, resolved), sort_keys=False))
            print(f"wrote {target} (pods name it as localhostProfile: "
                  f"operator/{resource_name(name)}.json)")
            continue
        localhost = f"{prefix}/{name}.json".lstrip("/")
        target = output / KUBELET_DIR / localhost
        resolved.save(target)
        snippet = output / "securitycontext" / f"{name}.yaml"
        write_atomic(snippet, yaml.safe_dump(pod_snippet(localhost, resolved.needs_nnp),
                                             sort_keys=False))
        print(f"wrote {target} (the kubelet loads it as localhostProfile: {localhost})")
        print(f"wrote {snippet} (the container's securityContext)")
    if args.format == "k8s-localhost" and paths:
        print(f"on every node, copy {output / KUBELET_DIR}/ into /var/lib/kubelet/seccomp/, "
              f"e.g. `rsync -a {output / KUBELET_DIR}/ node:/var/lib/kubelet/seccomp/`")
    return 0


def _compose_override(args: argparse.Namespace) -> int:
    """a compose override file that runs each service under its recorded profile"""
    compose_file = Path(args.compose_file)
    # relative paths are the compose file's, as compose resolves them, not the shell's
    profile_dir = compose_file.parent / args.profile_dir
    output = Path(args.output) if args.output else \
        compose_file.parent / "docker-compose.seccomp.yml"
    written = write_compose_override(compose_file, profile_dir, output)
    print(f"wrote {output}: {', '.join(written)}")
    print(f"run: docker compose -f {compose_file} -f {output} up")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    """what recording needs here (kernel and BTF, cgroups, engine, default profile, privileges,
    tracer), each OK or what is missing and how to fix it; exit 1 when recording cannot work"""
    from .sessions.preflight import cannot_record, run_checks

    findings = run_checks(args.default)
    for finding in findings:
        print(finding.line())
    blocked = cannot_record(findings)
    print("recording cannot work here until the MISSING lines are fixed" if blocked
          else "ready to record: `pytest --seccomp-record`")
    return EXIT_NOT_OK if blocked else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (the docs' reference is generated from it)."""
    parser = argparse.ArgumentParser(prog="pytest-seccomp", description=__doc__,
                                     epilog=EXIT_STATUSES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help=_check.__doc__, description=_check.__doc__)
    check.add_argument("profile", help="a profile (.json, or an SPO resource .yaml) or a "
                       "directory of them")
    check.add_argument("--engine", choices=["docker", "podman"], default="docker")
    check.add_argument("--default", help="the engine's default profile (found if omitted)")
    check.add_argument("--engine-version", metavar="VERSION",
                       help="check against the default of the Docker you deploy on (28.5.2, "
                            "26.1, or any release: shipped for Debian's 26.1.5 and 28.5.2, "
                            "else moby's file for it) instead of the one here")
    check.add_argument("--runtime", metavar="NAME[@VERSION]",
                       help="the OCI runtime you deploy on (runc@1.3.6, crun@1.28, or runc for "
                            "every measured version): whether the profile starts there, from "
                            "the measured table, and which runtime syscalls it lacks")
    check.set_defaults(run=_check)
    show = sub.add_parser("show", help=_show.__doc__, description=_show.__doc__)
    show.add_argument("profile", help="a profile (.json, or an SPO resource .yaml) or a "
                      "directory of them")
    show.set_defaults(run=_show)
    diff = sub.add_parser("diff", help=_diff.__doc__, description=_diff.__doc__)
    diff.add_argument("a", help="the profile before (e.g. the committed one, or what the "
                      "cluster runs)")
    diff.add_argument("b", help="the profile after (e.g. a new recording)")
    diff.set_defaults(run=_diff)
    merge = sub.add_parser("merge", help=_merge.__doc__, description=_merge.__doc__)
    merge.add_argument("directories", nargs="+", help="profile directories (CI shards)")
    merge.add_argument("-o", "--output", required=True, help="where the merged profiles go")
    merge.add_argument("--force", action="store_true",
                       help="merge even profiles recorded against different engine defaults")
    merge.set_defaults(run=_merge)
    export = sub.add_parser("export", help=_export.__doc__, description=_export.__doc__)
    export.add_argument("directory", help="a profile directory (or one profile file)")
    export.add_argument("--format", choices=["k8s-localhost", "spo"], required=True)
    export.add_argument("-o", "--output", required=True, help="where the files go")
    export.add_argument("--machine", choices=sorted(NATIVE_ARCH), default="x86_64",
                        help="the nodes' architecture (default x86_64)")
    export.add_argument("--prefix", default="pytest-seccomp",
                        help="k8s-localhost: the files' folder under /var/lib/kubelet/seccomp/")
    export.set_defaults(run=_export)
    override = sub.add_parser("compose-override", help=_compose_override.__doc__,
                              description=_compose_override.__doc__)
    override.add_argument("compose_file", help="the project's docker-compose.yml")
    override.add_argument("--profile-dir", default="seccomp-profiles",
                          help="where the recorded profiles are, relative to the compose file "
                               "(default: seccomp-profiles beside it)")
    override.add_argument("-o", "--output", default=None,
                          help="the override file (default: docker-compose.seccomp.yml beside "
                               "the compose file)")
    override.set_defaults(run=_compose_override)
    doctor = sub.add_parser("doctor", help=_doctor.__doc__, description=_doctor.__doc__)
    doctor.add_argument("--default", help="the engine's default profile, if you pass one to "
                                          "pytest (--seccomp-default-profile)")
    doctor.set_defaults(run=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a path or name that is not UTF-8 still prints
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except SeccompError as exc:
        print(f"pytest-seccomp: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # `pytest-seccomp show ... | head`: the reader has all it wanted; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
