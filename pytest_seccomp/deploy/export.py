"""Kubernetes: a kubelet `Localhost` profile with its securityContext, or a Security Profiles
Operator `SeccompProfile` resource. Both lack Docker's `includes`/`excludes`, so a profile is
first resolved for one target (architecture and capabilities)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from ..profiles.model import NATIVE_ARCH, Condition, Profile

# The capabilities a container gets by default from Docker, containerd and CRI-O.
DEFAULT_CAPS = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})
SPO_API_VERSION = "security-profiles-operator.x-k8s.io/v1beta1"
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


def resource_name(profile_name: str) -> str:
    """A DNS-1123 name for a profile name like `team/app`."""
    name = re.sub(r"[^a-z0-9-]+", "-", profile_name.lower()).strip("-")
    return name[:253] or "profile"


def to_spo(profile_name: str, resolved: Profile, namespace: str | None = None) -> dict[str, Any]:
    """A `SeccompProfile` resource of the Security Profiles Operator."""
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
    metadata: dict[str, Any] = {"name": resource_name(profile_name),
                                "annotations": {"pytest-seccomp/profile": profile_name}}
    if namespace:
        metadata["namespace"] = namespace
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
    return Profile.from_json({"defaultAction": spec.get("defaultAction"),
                              "architectures": spec.get("architectures", []),
                              "syscalls": spec.get("syscalls", [])}, source)


def load_any(path: str | os.PathLike[str]) -> Profile:
    """A profile file as the CLI's readers take it: Docker/OCI JSON, or a Security Profiles
    Operator resource in YAML (what runs in the cluster can be checked and diffed too)."""
    if Path(path).suffix not in (".yaml", ".yml"):
        return Profile.load(path)
    import yaml

    try:
        resource = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); export it "
                           "again with `pytest-seccomp export --format spo`.") from None
    return from_spo(resource, str(path))


def pod_snippet(localhost_path: str, nnp: bool = True) -> dict[str, Any]:
    """The securityContext that makes a container use the kubelet's copy of the profile; a
    profile made for no-new-privileges also needs `allowPrivilegeEscalation: false`."""
    context: dict[str, Any] = {}
    if nnp:
        context["allowPrivilegeEscalation"] = False  # no-new-privileges: as it was recorded
    context["seccompProfile"] = {"type": "Localhost", "localhostProfile": localhost_path}
    return {"securityContext": context}
