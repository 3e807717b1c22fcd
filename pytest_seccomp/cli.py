"""`pytest-seccomp` / `python -m pytest_seccomp`: look at and check profiles outside pytest."""

from __future__ import annotations

import argparse
import sys

from .engine_default import find_default
from .errors import SeccompError
from .profile import ALLOW, RUNTIME_SETUP_SYSCALLS, Profile


def _check(args: argparse.Namespace) -> int:
    profile = Profile.load(args.profile)
    default = find_default(args.engine, args.default)
    problems = profile.wider_than(default.profile)
    setup = sorted(profile.allowed & RUNTIME_SETUP_SYSCALLS)
    if setup:
        problems.append("allows the runtime's own set-up syscalls: " + ", ".join(setup))
    if problems:
        print(f"{args.profile}: NOT OK")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{args.profile}: OK ({len(profile.allowed)} syscalls allowed, deny by default, "
          f"not wider than {default.path})")
    return 0


def _show(args: argparse.Namespace) -> int:
    profile = Profile.load(args.profile)
    for condition in sorted(profile.rules, key=lambda c: c.sort_key()):
        label = condition.action if condition.action != ALLOW else "allow"
        extra = {k: v for k, v in condition.to_json().items() if k != "action"}
        print(f"{label}{' ' + str(extra) if extra else ''}:")
        print("  " + " ".join(sorted(profile.rules[condition])))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-seccomp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="valid, deny-by-default, not wider than the engine's "
                                         "default, none of the runtime's set-up syscalls")
    check.add_argument("profile")
    check.add_argument("--engine", choices=["docker", "podman"], default="docker")
    check.add_argument("--default", help="the engine's default profile (found if omitted)")
    check.set_defaults(run=_check)
    show = sub.add_parser("show", help="print a profile's rules")
    show.add_argument("profile")
    show.set_defaults(run=_show)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except SeccompError as exc:
        print(f"pytest-seccomp: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
