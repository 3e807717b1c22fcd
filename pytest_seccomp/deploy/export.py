"""Kubernetes: a kubelet `Localhost` profile with its securityContext, or a Security Profiles
Operator `SeccompProfile` resource. Both lack Docker's `includes`/`excludes`, so a profile is
first resolved for one target (architecture and capabilities)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from ..profiles.files import load_yaml
from ..profiles.generic import exists, translate
from ..profiles.model import (
    ALLOW,
    APP_COMMENT,
    APP_COMMENT_NNP,
    NATIVE_ARCH,
    Condition,
    Profile,
    apps_first,
)

# The capabilities a container gets by default from Docker, containerd and CRI-O.
DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})
# v1, cluster-scoped: the operator writes /var/lib/kubelet/seccomp/operator/<name>.json
SPO_API_VERSION = "security-profiles-operator.x-k8s.io/v1"
SPO_MODE = "pytest-seccomp/no-new-privileges"  # the annotation that keeps the profile's mode
MODE_WORDS = {True: "required", False: "not required"}
KUBELET_DIR = "kubelet-seccomp"  # under export's output: what goes to /var/lib/kubelet/seccomp/


def _applies(condition: Condition, arch: str, caps: frozenset[str]) -> bool:
    inc, exc = dict(condition.includes), dict(condition.excludes)
    if "arches" in inc and arch not in inc["arches"]:
        return False
    if "caps" in inc and not set(inc["caps"]) <= caps:
        return False
    if "arches" in exc and arch in exc["arches"]:
        return False
    return not ("caps" in exc and set(exc["caps"]) & caps)


def resolve(profile: Profile, machine: str = "x86_64",
            caps: frozenset[str] = DEFAULT_CAPS) -> Profile:
    """The rules that apply to a container of `machine` with `caps`, without includes/excludes."""
    scmp_arch, alias = NATIVE_ARCH[machine]
    rules: dict[Condition, frozenset[str]] = {}
    for condition, names in profile.rules.items():
        if _applies(condition, alias, caps):
            plain = Condition(condition.action, condition.errno_ret, condition.args,
                              comment=condition.comment)
            rules[plain] = rules.get(plain, frozenset()) | names
    arches = [scmp_arch, *next((subs for a, subs in profile.arch_map if a == scmp_arch), ())]
    return Profile(profile.default_action, profile.default_errno_ret,
                   tuple(sorted((a, ()) for a in arches)), rules)


def for_machine(profile: Profile, machine: str) -> tuple[Profile, dict[str, tuple[str, ...]],
                                                        frozenset[str]]:
    """`profile` with the names `machine` lacks translated (profiles/generic.py): in a plain
    allow rule, a legacy call becomes the generic calls made instead; a call with none, or in a
    rule with conditions (its arguments may sit elsewhere), is dropped. Returns the profile,
    what was mapped and what was dropped."""
    rules: dict[Condition, frozenset[str]] = {}
    mapped: dict[str, tuple[str, ...]] = {}
    dropped: set[str] = set()
    for condition, names in profile.rules.items():
        if condition.action == ALLOW and condition.unconditional:
            kept, moved, gone = translate(names, machine)
            mapped.update(moved)
        else:
            kept = frozenset(n for n in names if exists(machine, n) is not False)
            gone = names - kept
        dropped |= gone
        if kept:
            rules[condition] = rules.get(condition, frozenset()) | kept
    return replace(profile, rules=apps_first(rules)), mapped, frozenset(dropped)


def machines_of(profile: Profile) -> list[str]:
    """Every machine (`uname -m`) whose native architecture the profile's archMap names, in a
    fixed order; x86_64 for a file that names none (the engine then uses the host's)."""
    named = {scmp for scmp, _ in profile.arch_map}
    return [m for m, (scmp, _) in sorted(NATIVE_ARCH.items()) if scmp in named] or ["x86_64"]


def problems_per_machine(profile: Profile, default: Profile) -> tuple[list[str], list[str]]:
    """Why `profile` is wider than `default` on any machine it names, and the machines it was
    judged on. Files with includes/excludes on both sides are compared rule by rule (each rule
    keeps its architectures); otherwise both are resolved for each machine as the engine
    resolves them there with the default capabilities: a rule the default allows on s390x
    only (clone's flags in argument 1) is then judged where it applies, never on the first
    architecture alone."""
    if not profile.is_resolved and not default.is_resolved:
        return profile.check(default), machines_of(profile)
    machines = machines_of(profile)
    if default.is_resolved:  # a default as it applies on its own machine (the shipped ones)
        machines = [default.machine or "x86_64"]
    problems: list[str] = []
    for machine in machines:
        found = resolve(profile, machine).check(
            default if default.is_resolved else resolve(default, machine))
        problems += [f"on {machine}: {p}" if len(machines) > 1 else p for p in found]
    return problems, machines


PROFILE_DIR_NAME = "seccomp-profiles"  # the folder recordings write into by default


def profile_name_of(path: Path, given: Path) -> str:
    """A profile's name, however the export was called: its path under the nearest enclosing
    `seccomp-profiles/` (`pytest-seccomp/redis`, from the folder, a sub-folder or the file),
    else under the folder given, else the file's stem."""
    for parent in path.parents:
        if parent.name == PROFILE_DIR_NAME:
            return str(path.relative_to(parent).with_suffix(""))
    if given.is_dir():
        return str(path.relative_to(given).with_suffix(""))
    return path.stem


def resource_name(profile_name: str) -> str:
    """A DNS-1123 name for a profile name like `team/app`."""
    name = re.sub(r"[^a-z0-9-]+", "-", profile_name.lower()).strip("-")
    return name[:253] or "profile"


def to_spo(profile_name: str, resolved: Profile) -> dict[str, Any]:
    """A cluster-scoped `SeccompProfile` resource of the Security Profiles Operator (v1); pods
    name it as `localhostProfile: operator/<metadata.name>.json`."""
    data = resolved.to_json()
    spec: dict[str, Any] = {"defaultAction": data["defaultAction"]}
    spec["architectures"] = [entry["architecture"] for entry in data.get("archMap", [])]
    syscalls = []
    for rule in data["syscalls"]:
        item: dict[str, Any] = {"action": rule["action"], "names": rule["names"]}
        if "errnoRet" in rule:
            item["errnoRet"] = rule["errnoRet"]
        if "args" in rule:
            item["args"] = rule["args"]
        syscalls.append(item)
    spec["syscalls"] = syscalls
    annotations = {"pytest-seccomp/profile": profile_name}
    if resolved.made_for_nnp is not None:
        annotations[SPO_MODE] = MODE_WORDS[resolved.made_for_nnp]
    metadata: dict[str, Any] = {"name": resource_name(profile_name), "annotations": annotations}
    return {"apiVersion": SPO_API_VERSION, "kind": "SeccompProfile", "metadata": metadata,
            "spec": spec}


def from_spo(resource: dict[str, Any], source: str = "SeccompProfile") -> Profile:
    """Back from a `SeccompProfile` resource to the profile model."""
    if not isinstance(resource, dict) or resource.get("kind") != "SeccompProfile":
        raise ProfileError(f"{source} is not a SeccompProfile resource (kind: SeccompProfile): "
                           "give a Docker/OCI profile (.json) or the Security Profiles "
                           "Operator resource `pytest-seccomp export --format spo` writes.")
    spec = resource.get("spec")
    if not isinstance(spec, dict):
        raise ProfileError(f"{source} has no spec: export it again with "
                           "`pytest-seccomp export --format spo`.")
    if spec.get("baseProfileName"):
        raise ProfileError(f"{source}: spec.baseProfileName {str(spec['baseProfileName'])[:60]!r}"
                           ": the operator adds that profile's rules, which this file does not "
                           "hold; check the base and this resource's syscalls each on their own, "
                           "or export a complete profile with `pytest-seccomp export --format spo`.")
    syscalls = spec.get("syscalls")
    profile = Profile.from_json({"defaultAction": spec.get("defaultAction"),
                                 "architectures": spec.get("architectures"),
                                 "syscalls": [_crd_fields(r, _SPO_RULE) for r in syscalls]
                                 if isinstance(syscalls, list) else syscalls}, source)
    metadata = resource.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    mode = annotations.get(SPO_MODE) if isinstance(annotations, dict) else None
    if mode not in MODE_WORDS.values():
        return profile
    # the CRD has no comments: the app's plain rule says the mode again, as recorded
    comment = APP_COMMENT_NNP if mode == MODE_WORDS[True] else APP_COMMENT
    rules: dict[Condition, frozenset[str]] = {}
    for condition, names in profile.rules.items():
        if condition.action == ALLOW and condition.unconditional:
            condition = replace(condition, comment=comment)
        rules[condition] = rules.get(condition, frozenset()) | names
    return replace(profile, rules=rules)


# the fields of the operator's CRD (v1beta1): the API server prunes any other, and matches keys
# exactly, so `includes`, `excludes`, `name` or `Names` never reach the node
_SPO_RULE = ("names", "action", "errnoRet", "args")
_SPO_ARG = ("index", "value", "valueTwo", "op")


def _crd_fields(raw: Any, fields: tuple[str, ...]) -> Any:
    """`raw` as the cluster keeps it: only the CRD's own fields, spelled exactly."""
    if not isinstance(raw, dict):
        return raw
    kept = {k: raw[k] for k in fields if k in raw}
    if isinstance(kept.get("args"), list):
        kept["args"] = [_crd_fields(a, _SPO_ARG) for a in kept["args"]]
    return kept


def load_any(path: str | os.PathLike[str]) -> Profile:
    """A profile file as the CLI's readers take it: Docker/OCI JSON, or a Security Profiles
    Operator resource in YAML (what runs in the cluster can be checked and diffed too)."""
    if Path(path).suffix not in (".yaml", ".yml"):
        return Profile.load(path)
    resource = load_yaml(path, "SeccompProfile resource",
                         "export it again with `pytest-seccomp export --format spo`.")
    return from_spo(resource, os.fsdecode(path))


def pod_snippet(localhost_path: str, nnp: bool = True) -> dict[str, Any]:
    """The securityContext that makes a container use the kubelet's copy of the profile; a
    profile made for no-new-privileges also needs `allowPrivilegeEscalation: false`."""
    context: dict[str, Any] = {}
    if nnp:
        context["allowPrivilegeEscalation"] = False  # no-new-privileges: as it was recorded
    context["seccompProfile"] = {"type": "Localhost", "localhostProfile": localhost_path}
    return {"securityContext": context}
