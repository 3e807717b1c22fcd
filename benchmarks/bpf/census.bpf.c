// SPDX-License-Identifier: GPL-2.0
/* An argument census, for benchmarks/bench_arguments.py only: which values the candidate
 * arguments of argument rules take in containers (tasks under a seccomp filter), per process
 * name, so that their stability can be measured over many recordings before any is adopted by
 * the tracer. Each (syscall, value, comm) is counted once per run; nothing else is read. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

typedef __u64 u64;
typedef __u32 u32;

struct seccomp { int mode; } __attribute__((preserve_access_index));
struct task_struct { struct seccomp seccomp; } __attribute__((preserve_access_index));
struct pt_regs {
	unsigned long orig_ax; unsigned long di; unsigned long si; unsigned long dx;
} __attribute__((preserve_access_index));

/* x86_64 numbers: this program is built for x86_64 only (the benchmark says so elsewhere) */
#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_IOCTL 16
#define NR_SOCKET 41
#define NR_SETSOCKOPT 54
#define NR_CLONE 56
#define NR_PRCTL 157
#define NR_SHMAT 30
#define NR_PKEY_MPROTECT 329

struct key { u32 nr; u32 pad; u64 value; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, struct key); __type(value, u64);
	 __uint(max_entries, 65536); } census SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(argument_census, struct pt_regs *regs, long id)
{
	if (bpf_get_current_task_btf()->seccomp.mode != 2)
		return 0;
	struct key key = { .nr = id };
	switch (id) {
	case NR_IOCTL:      /* the request (TIOCSTI = 0x5412 is the terminal injection) */
		key.value = (u32)regs->si;
		break;
	case NR_PRCTL:      /* the option */
		key.value = regs->di;
		break;
	case NR_CLONE:      /* the flags, without the exit signal */
		key.value = regs->di & ~0xffUL;
		break;
	case NR_SETSOCKOPT: /* level << 32 | option name */
		key.value = (u64)(u32)regs->si << 32 | (u32)regs->dx;
		break;
	case NR_MMAP:       /* PROT_WRITE and PROT_EXEC: which of them */
	case NR_MPROTECT:
	case NR_PKEY_MPROTECT:
		key.value = regs->dx & 6;
		break;
	case NR_SHMAT:      /* SHM_EXEC or not */
		key.value = regs->dx & 0x8000;
		break;
	case NR_SOCKET:     /* family << 32 | type (no SOCK_NONBLOCK/CLOEXEC) << 16 | protocol */
		key.value = (u64)(u32)regs->di << 32 | (regs->si & 0xf) << 16 | (regs->dx & 0xffff);
		break;
	default:
		return 0;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	u64 one = 1;
	bpf_map_update_elem(&census, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
