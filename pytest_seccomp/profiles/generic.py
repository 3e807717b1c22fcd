"""A profile recorded on one architecture, exported for another: the newer architectures
(aarch64, riscv64) have only the kernel's generic syscall table, without the legacy calls
x86_64 keeps (`open`, `stat`, `epoll_wait`, `dup2`, ...). Their C libraries make the generic
call instead (`openat`, `newfstatat`, `epoll_pwait`, `dup3`), so a profile recorded on x86_64
needs those there. Which names an architecture has comes from libseccomp's tables (the
kernel's, as the engine resolves them); which generic call replaces a legacy one is the C
libraries' choice, listed here."""

from __future__ import annotations

import functools

import pyseccomp

# uname machine -> libseccomp's native architecture
_ARCH = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64,
         "ppc64le": pyseccomp.Arch.PPC64LE, "s390x": pyseccomp.Arch.S390X}
# a legacy call -> the generic calls glibc and musl make for it where it does not exist
GENERIC = {
    "access": ("faccessat", "faccessat2"), "alarm": ("setitimer",), "chmod": ("fchmodat",),
    "chown": ("fchownat",), "creat": ("openat",), "dup2": ("dup3",),
    "epoll_create": ("epoll_create1",), "epoll_wait": ("epoll_pwait",),
    "eventfd": ("eventfd2",), "fork": ("clone",), "futimesat": ("utimensat",),
    "getdents": ("getdents64",), "getpgrp": ("getpgid",), "inotify_init": ("inotify_init1",),
    "lchown": ("fchownat",), "link": ("linkat",), "lstat": ("newfstatat",),
    "mkdir": ("mkdirat",), "mknod": ("mknodat",), "open": ("openat",),
    "pause": ("rt_sigsuspend", "ppoll"), "pipe": ("pipe2",), "poll": ("ppoll",),
    "readlink": ("readlinkat",), "rename": ("renameat", "renameat2"), "rmdir": ("unlinkat",),
    "select": ("pselect6",), "signalfd": ("signalfd4",), "stat": ("newfstatat",),
    "symlink": ("symlinkat",), "time": ("clock_gettime",), "unlink": ("unlinkat",),
    "utime": ("utimensat",), "utimes": ("utimensat",), "vfork": ("clone",),
}


@functools.cache
def exists(machine: str, name: str) -> bool | None:
    """Whether `machine` has the syscall `name`; None when no architecture libseccomp knows
    has it (a misspelling, or a call newer than this libseccomp: left as it is)."""
    def has(arch: int) -> bool:
        try:
            return int(pyseccomp.resolve_syscall(arch, name)) >= 0
        except ValueError:
            return False
    if has(_ARCH[machine]):
        return True
    return False if any(has(arch) for arch in _ARCH.values()) else None


def translate(names: frozenset[str], machine: str) -> tuple[frozenset[str], dict[str, tuple[str, ...]],
                                                            frozenset[str]]:
    """`names` as `machine` needs them: each legacy call it lacks replaced by the generic calls
    made instead, a call with no such replacement (x86's `arch_prctl`, `iopl`) dropped. Returns
    the names, what was mapped to what, and what was dropped."""
    kept: set[str] = set()
    mapped: dict[str, tuple[str, ...]] = {}
    dropped: set[str] = set()
    for name in names:
        if exists(machine, name) is not False:
            kept.add(name)
            continue
        instead = tuple(n for n in GENERIC.get(name, ()) if exists(machine, n))
        if instead:
            mapped[name] = instead
            kept.update(instead)
        else:
            dropped.add(name)
    return frozenset(kept), mapped, frozenset(dropped)
