"""What a syscall is for, so a reviewer reads a profile by purpose rather than as one list.

This is a reading aid, not a syscall table (names and numbers come from libseccomp): each name
is matched against the patterns below in order; the rest is "other".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PURPOSES: tuple[tuple[str, str], ...] = (
    ("process", r"^(clone3?|fork|vfork|execve(at)?|exit(_group)?|wait4|waitid|kill|tkill|tgkill|"
                r"getpid|getppid|gettid|prctl|arch_prctl|set_tid_address|setsid|getsid|"
                r"setpgid|getpgid|getpgrp|pidfd_\w+|ptrace|personality|seccomp|capget|capset|"
                r"unshare|setns|rseq|set_robust_list|get_robust_list)$"),
    ("identity", r"^(get|set)(re[su]|e)?[ug]id(32)?$|^(get|set)groups(32)?$|^setfs[ug]id"),
    ("signals", r"^rt_sig|^sig|pause|restart_syscall|alarm"),
    ("memory", r"^(mmap2?|munmap|mremap|mprotect|madvise|brk|mlock\w*|munlock\w*|msync|"
               r"mincore|membarrier|memfd_\w+|pkey_\w+|(get|set)_mempolicy|mbind|move_pages)$"),
    ("time and scheduling", r"clock_|time|nanosleep|sched_|getitimer|setitimer|timer_|timerfd|"
                            r"getrusage|times|adjtimex|futex|getcpu|getrandom|prlimit|[gs]etrlimit|"
                            r"getpriority|setpriority|ioprio"),
    ("event loops and IPC", r"poll|select|epoll|eventfd|signalfd|inotify|fanotify|^pipe2?$|"
                            r"^(mq|msg|sem|shm)\w+|io_uring|io_\w+"),
    ("network", r"socket|connect|accept|bind|listen|(send|recv)(to|from|msg|mmsg)?$|"
                r"getsockname|getpeername|(get|set)sockopt|shutdown|socketpair"),
    ("files", r"open|close|read|write|seek|stat|fstat|access|dup|fcntl|ioctl|getdents|chdir|"
              r"getcwd|mkdir|rmdir|unlink|rename|link|chmod|chown|truncate|sync|fallocate|"
              r"fadvise|splice|tee|sendfile|copy_file_range|xattr|umask|mknod|utime|flock|"
              r"statfs|mount|umount|pivot_root|chroot|quotactl|name_to_handle|close_range"),
    ("system", r".*"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in PURPOSES)


def purpose_of(syscall: str) -> str:
    for name, pattern in _COMPILED:
        if pattern.search(syscall):
            return name
    return "system"


def group(names: Iterable[str]) -> dict[str, list[str]]:
    """Purpose -> sorted names, purposes in the order above, empty ones left out."""
    grouped: dict[str, list[str]] = {name: [] for name, _ in PURPOSES}
    for syscall in sorted(set(names)):
        grouped[purpose_of(syscall)].append(syscall)
    return {purpose: items for purpose, items in grouped.items() if items}
