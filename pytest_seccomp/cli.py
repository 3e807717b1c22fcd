"""`pytest-seccomp` / `python -m pytest_seccomp`: look at and check profiles outside pytest."""

from __future__ import annotations

import argparse
import json
import sys

from .engine_default import find_default
from .errors import SeccompError
from .profile import ALLOW, Profile
from .purposes import group


def _check(args: argparse.Namespace) -> int:
    """valid, deny by default, not wider than the engine's default, no runtime set-up syscalls"""
    profile = Profile.load(args.profile)
    default = find_default(args.engine, args.default)
    problems = profile.check(default.profile)
    if problems:
        print(f"{args.profile}: NOT OK")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{args.profile}: OK ({len(profile.allowed)} syscalls allowed, deny by default, "
          f"not wider than {default.path})")
    return 0


def _show(args: argparse.Namespace) -> int:
    """the allowed names grouped by purpose, then the conditional and non-allow rules"""
    profile = Profile.load(args.profile)
    plain = {n for c, names in profile.rules.items() if c.action == ALLOW and c.unconditional
             for n in names}
    print(f"{args.profile}: {len(profile.allowed)} syscalls allowed, "
          f"default action {profile.default_action}")
    for purpose, names in group(plain).items():
        print(f"  {purpose + ':':<22} {' '.join(names)}")
    for condition in sorted(profile.rules, key=lambda c: c.sort_key()):
        if condition.action == ALLOW and condition.unconditional:
            continue
        extra = {k: v for k, v in condition.to_json().items() if k != "action"}
        verb = "allow" if condition.action == ALLOW else condition.action
        print(f"  {verb} {' '.join(sorted(profile.rules[condition]))} if {json.dumps(extra)}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    """what B allows that A does not (+) and the reverse (-); exit 1 when B is wider"""
    diff = Profile.load(args.a).diff(Profile.load(args.b))
    for line in diff.lines():
        print(line)
    if not diff:
        print("no difference")
    return 1 if diff.widens else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-seccomp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help=_check.__doc__)
    check.add_argument("profile")
    check.add_argument("--engine", choices=["docker", "podman"], default="docker")
    check.add_argument("--default", help="the engine's default profile (found if omitted)")
    check.set_defaults(run=_check)
    show = sub.add_parser("show", help=_show.__doc__)
    show.add_argument("profile")
    show.set_defaults(run=_show)
    diff = sub.add_parser("diff", help=_diff.__doc__)
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(run=_diff)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except SeccompError as exc:
        print(f"pytest-seccomp: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
