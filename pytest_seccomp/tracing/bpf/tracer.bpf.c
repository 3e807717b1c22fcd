// SPDX-License-Identifier: GPL-2.0
/* pytest-seccomp's tracer: which syscalls each container (cgroup v2) made after its seccomp
 * filter was installed, and which ones the filter refused.
 *
 * Why this shape:
 * - BTF-typed raw tracepoints (tp_btf) run the program straight from the tracepoint: no perf
 *   buffer is filled per syscall as for a classic tracepoint, and the task's seccomp mode is a
 *   plain load instead of a probe_read helper call.
 * - The cheapest test comes first: a task without a seccomp filter (mode != 2) is never looked up.
 *   That also leaves out the runtime's own set-up (mount, pivot_root, ...), made before the filter.
 * - Recording needs each (container, syscall) pair once, not counted. The steady state makes no
 *   call: the task, its cgroup (three plain loads) and a direct-mapped cache slot (an inlined
 *   array lookup) answer "already noted"; only a miss looks up the container's 512-bit set in
 *   a hash map. See benchmarks/bench_pieces.py for what each piece costs.
 * - The runtime's own steps after it installed the filter (runc's init, crun, before they exec
 *   the container's program) are kept apart from the app's, in a second set: they are told by
 *   the task's name, read (a plain load) only when the app's bit is not set yet.
 * - socket and socketpair also note their address family (argument 0), a bit per family,
 *   socket(AF_NETLINK) its protocol (argument 2), a bit per protocol, and socket(AF_UNIX,
 *   AF_INET, AF_INET6) its type (argument 1's low bits), a bit per type; no other syscall's
 *   arguments are read, so every other syscall pays one comparison, as before.
 * - mmap, mprotect, pkey_mprotect and shmat note a request for executable memory (argument 2:
 *   PROT_EXEC, with or without PROT_WRITE; shmat's SHM_EXEC), a bit per syscall and kind; the
 *   requests for other memory, the many, are not noted (profiles always allow them), so they
 *   pay a test of one bit, and every other syscall a few comparisons.
 * - Nothing is lost silently: a full map bumps a counter the reader checks.
 *
 * CO-RE: the few kernel structures used are declared here with preserve_access_index, so libbpf
 * relocates their fields against the running kernel's BTF; no kernel headers are needed. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

typedef __u64 u64;
typedef __u32 u32;

struct seccomp { int mode; } __attribute__((preserve_access_index));
struct thread_info { u32 status; } __attribute__((preserve_access_index));
struct kernfs_node { u64 id; } __attribute__((preserve_access_index));
struct cgroup_root { int hierarchy_id; } __attribute__((preserve_access_index));
struct cgroup {
	struct kernfs_node *kn;
	struct cgroup_root *root;
} __attribute__((preserve_access_index));
struct css_set { struct cgroup *dfl_cgrp; } __attribute__((preserve_access_index));
struct linux_binprm { const char *filename; } __attribute__((preserve_access_index));
struct task_struct {
	struct thread_info thread_info;
	struct seccomp seccomp;
	struct css_set *cgroups;
	struct task_struct *group_leader; /* the process's first thread: its name is the process's */
	char comm[16];
} __attribute__((preserve_access_index));
/* The syscall's number and its first argument, as saved at entry (still there at exit). */
#if defined(__TARGET_ARCH_x86)
struct pt_regs { unsigned long orig_ax; unsigned long di; unsigned long si; unsigned long dx; }
	__attribute__((preserve_access_index));
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define ARG0(regs) ((regs)->di)
#define ARG1(regs) ((regs)->si)
#define ARG2(regs) ((regs)->dx)
#define NR_SOCKET 41
#define NR_SOCKETPAIR 53
#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_SHMAT 30
#define NR_PKEY_MPROTECT 329
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs { u64 regs[31]; u64 orig_x0; int syscallno; } __attribute__((preserve_access_index));
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define ARG0(regs) ((regs)->orig_x0) /* x0 itself holds the return value at exit */
#define ARG1(regs) ((regs)->regs[1])
#define ARG2(regs) ((regs)->regs[2])
#define NR_SOCKET 198
#define NR_SOCKETPAIR 199
#define NR_MMAP 222
#define NR_MPROTECT 226
#define NR_SHMAT 196
#define NR_PKEY_MPROTECT 288
#else
#error "pytest-seccomp's tracer knows x86_64 and arm64"
#endif

#define SECCOMP_MODE_FILTER 2
#define TS_COMPAT 0x0002 /* x86: the task runs a 32-bit program */
#define SYSCALL_BITS 512 /* above every native syscall number of x86_64 and arm64 */
/* a cgroup path fits whole: /docker/<64 hex>, and a container's nested under another's
 * (docker-in-docker: /docker/<outer>/<inner>, 137 bytes), or under systemd and kubelet slices */
#define PATH_LEN 512
#define COMM_LEN 16

/* The program's one setting (.data): the loader sets it before load, and may write it after
 * (the tracer loads while the engine is still asked which default profile, so which errno, it
 * has). Read with a plain load, as a constant would be. */
int refusal_errno = 1; /* the profile's errno: EPERM for Docker, ENOSYS for Podman */

/* Bumped after every write the reader has not seen yet, except --seccomp-count-calls' counts
 * (.bss): the session reads the maps at every test's edges, and when this has not moved since
 * its last read there is nothing new to read. Bumped after the write it announces, so a reader
 * that sees the bump sees the write; a write whose bump comes after a read is in the next. */
u64 changes;

static __always_inline void changed(void)
{
	__sync_fetch_and_add(&changes, 1);
}

struct syscall_set {
	u64 words[SYSCALL_BITS / 64];   /* the app's syscalls */
	u64 runtime[SYSCALL_BITS / 64]; /* the runtime's, before it exec'd the app */
};
/* arg: for socket and socketpair, 1 + the socket value (the address family, plus
 * PROTOCOL_STRIDE * (qualifier + 1) for socket(AF_NETLINK) with its protocol and for
 * socket(AF_UNIX | AF_INET | AF_INET6) with its type); for a memory syscall's request of
 * executable memory, 1 + its kind (EXEC 1, WRITE_EXEC 2); 0 for every other call */
/* comm: the refused thread's name (a JVM's "C2 CompilerThre", a Go runtime's OS thread, libuv's
 * "libuv-worker"); leader: its process's (the thread group leader's) */
struct refusal { u64 cgroup; u32 nr; u32 arg; char comm[COMM_LEN]; char leader[COMM_LEN]; };
/* The address families (argument 0) a container passed to socket and socketpair: a bit each.
 * Families above 62 (none exists; the call fails) fold into bit 63, "any family". */
#define ANY_FAMILY 63
/* socket(AF_NETLINK)'s protocols (argument 2), a bit each: NETLINK_ROUTE is what getaddrinfo
 * opens, NETLINK_NETFILTER the nf_tables exploits'. Protocols >= 63 fold into bit 63. */
#define AF_NETLINK 16
#define ANY_PROTOCOL 63
#define PROTOCOL_STRIDE 64 /* arguments.py: a socket value's qualifier part */
/* socket(AF_UNIX | AF_INET | AF_INET6)'s type (argument 1 without SOCK_NONBLOCK/SOCK_CLOEXEC):
 * SOCK_RAW is ping's and packet crafting's, SOCK_STREAM/SOCK_DGRAM every other app's. A 16-bit
 * slot per family in `types`, in arguments.py's TYPED_FAMILIES order. */
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_TYPE_MASK 0xf
/* Executable memory asked for (argument 2), in protections.py's terms: EXEC (PROT_EXEC without
 * PROT_WRITE, or shmat's SHM_EXEC) and WRITE_EXEC (both), a 2-bit slot per syscall in `exec`,
 * in protections.py's PROTECTION_SYSCALLS order: mmap, mprotect, pkey_mprotect, shmat. */
#define PROT_WRITE 2
#define PROT_EXEC 4
#define SHM_EXEC 0100000
struct family_set { u64 socket; u64 socketpair; u64 netlink; u64 types; u64 exec; };
struct path { char text[PATH_LEN]; };

/* Sizes are set by the loader (--seccomp-map-size). Hash maps are not preallocated: entries
 * are made once per container (or cgroup), so memory follows use, not the size limit. */
#define HASH __uint(type, BPF_MAP_TYPE_HASH); __uint(map_flags, BPF_F_NO_PREALLOC)
struct { HASH; __type(key, u64); __type(value, struct syscall_set);
	 __uint(max_entries, 1); } seen SEC(".maps");            /* cgroup -> syscalls made */
struct { HASH; __type(key, u64); __type(value, u64);
	 __uint(max_entries, 1); } calls SEC(".maps");           /* cgroup << 32 | nr -> count */
struct { HASH; __type(key, struct refusal); __type(value, u64);
	 __uint(max_entries, 1); } refused SEC(".maps");         /* (cgroup, nr, thread, process) -> n */
struct { HASH; __type(key, u64); __type(value, struct path);
	 __uint(max_entries, 1); } cgroup_paths SEC(".maps");    /* cgroup v2 id -> its path */
struct { HASH; __type(key, u64); __type(value, u64);
	 __uint(max_entries, 1); } compat_execs SEC(".maps");    /* cgroup -> 32-bit programs run */
struct { HASH; __type(key, u64); __type(value, struct family_set);
	 __uint(max_entries, 1); } families SEC(".maps");        /* cgroup -> families used */
/* The programs a filtered task exec'd (the path its execve named, as the kernel resolved it
 * for the exec: a script's own path, its interpreter follows from its #! line), for coverage:
 * what ran, not only the command line's first word. A full map keeps what it has: coverage
 * says so; the recording itself is complete without it. */
#define EXEC_PATH_LEN 248
struct exec_path { u64 cgroup; char text[EXEC_PATH_LEN]; };
struct { HASH; __type(key, struct exec_path); __type(value, u64);
	 __uint(max_entries, 1); } exec_paths SEC(".maps");      /* (cgroup, path) -> execs */
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, u32);
	 __type(value, struct exec_path); __uint(max_entries, 1); } exec_scratch SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, u32); __type(value, u64);
	 __uint(max_entries, 1); } lost SEC(".maps");            /* entries a full map refused */
/* --seccomp-count-calls' steady state: each CPU counts in a direct-mapped slot of its own (a
 * plain add, no call, no shared cache line); a pair that takes a slot over flushes the one it
 * evicts into `calls`. The reader adds what is still pending in every CPU's slots. */
#define COUNT_SLOTS 1024
struct pending { u64 key; u64 count; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, u32); __type(value, struct pending);
	 __uint(max_entries, COUNT_SLOTS); } pending_calls SEC(".maps");
/* The steady state's shortcut: a direct-mapped cache of (cgroup, syscall) pairs whose bit in
 * `seen` is already set. An array lookup is inlined by the verifier (no call), where a hash
 * lookup is a call, and calls are what cost on CPUs whose every return is a safe-RET thunk
 * (AMD's SRSO mitigation). A slot holds one pair's tag; another pair evicts it and only costs
 * the next call the slow path. Bits are never cleared, so a tag never lies. */
#define SEEN_CACHE_SLOTS 16384
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, u32); __type(value, u64);
	 __uint(max_entries, SEEN_CACHE_SLOTS); } seen_cache SEC(".maps");

static __always_inline void note_lost(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	changed();
}

static __always_inline void add(void *map, const void *key)
{
	u64 one = 1, *n = bpf_map_lookup_elem(map, key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == 0)
		return;
	n = bpf_map_lookup_elem(map, key); /* another CPU inserted it meanwhile */
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		note_lost();
}

/* add() by n: a pending count flushed from a CPU's slot into the shared map */
static __always_inline void add_n(void *map, const void *key, u64 count)
{
	u64 *n = bpf_map_lookup_elem(map, key);
	if (n) {
		__sync_fetch_and_add(n, count);
		return;
	}
	if (bpf_map_update_elem(map, key, &count, BPF_NOEXIST) == 0)
		return;
	n = bpf_map_lookup_elem(map, key);
	if (n)
		__sync_fetch_and_add(n, count);
	else
		note_lost();
}

static __always_inline int filtered(void)
{
	return bpf_get_current_task_btf()->seccomp.mode == SECCOMP_MODE_FILTER;
}

/* bpf_get_current_cgroup_id() without the call: the same three loads it makes */
static __always_inline u64 task_cgroup(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/* runc's init ("runc:[2:INIT]") or crun, between installing the filter and exec'ing the app */
static __always_inline int in_runtime(void)
{
	const char *comm = bpf_get_current_task_btf()->comm;
	if (comm[0] == 'r' && comm[1] == 'u' && comm[2] == 'n' && comm[3] == 'c' && comm[4] == ':')
		return 1;
	return comm[0] == 'c' && comm[1] == 'r' && comm[2] == 'u' && comm[3] == 'n' && comm[4] == 0;
}

#define RUNTIME_FLAG (1U << 16) /* in a counted key: the runtime made this call */

static __always_inline u64 family_bit(struct pt_regs *regs)
{
	u64 family = ARG0(regs);
	return 1ULL << (family < ANY_FAMILY ? family : ANY_FAMILY);
}

static __always_inline u64 netlink_protocol(struct pt_regs *regs)
{
	u64 protocol = ARG2(regs);
	return protocol < ANY_PROTOCOL ? protocol : ANY_PROTOCOL;
}

/* The 16-bit slot of `types` for a typed family, or -1. */
static __always_inline int type_slot(u64 family)
{
	return family == AF_UNIX ? 0 : family == AF_INET ? 1 : family == AF_INET6 ? 2 : -1;
}

static __always_inline struct family_set *argument_set(u64 cgroup)
{
	struct family_set *set = bpf_map_lookup_elem(&families, &cgroup);
	if (!set) {
		struct family_set empty = {};
		bpf_map_update_elem(&families, &cgroup, &empty, BPF_NOEXIST);
		set = bpf_map_lookup_elem(&families, &cgroup);
		if (!set)
			note_lost();
	}
	return set;
}

/* Only socket and socketpair get here: every other syscall pays one comparison. */
static __always_inline void note_family(struct pt_regs *regs, long id, u64 cgroup)
{
	struct family_set *set = argument_set(cgroup);
	if (!set)
		return;
	u64 *word = id == NR_SOCKET ? &set->socket : &set->socketpair;
	u64 bit = family_bit(regs);
	if (id == NR_SOCKET && ARG0(regs) == AF_NETLINK) { /* which netlink protocol */
		word = &set->netlink;
		bit = 1ULL << netlink_protocol(regs);
	} else if (id == NR_SOCKET && type_slot(ARG0(regs)) >= 0) { /* which type */
		word = &set->types;
		bit = 1ULL << (type_slot(ARG0(regs)) * 16 + (ARG1(regs) & SOCK_TYPE_MASK));
	}
	if (!(*word & bit)) {
		__sync_fetch_and_or(word, bit);
		changed();
	}
}

/* A syscall's slot in `exec` (protections.py's order), or -1: not one of them. */
static __always_inline int exec_slot(long id)
{
	return id == NR_MMAP ? 0 : id == NR_MPROTECT ? 1 : id == NR_PKEY_MPROTECT ? 2
		: id == NR_SHMAT ? 3 : -1;
}

/* The kind of executable memory argument 2 asks for: 0 none, 1 EXEC, 2 WRITE_EXEC. */
static __always_inline int exec_kind(struct pt_regs *regs, int slot)
{
	u64 prot = ARG2(regs);
	if (slot == 3)
		return prot & SHM_EXEC ? 1 : 0;
	if (!(prot & PROT_EXEC))
		return 0;
	return prot & PROT_WRITE ? 2 : 1;
}

/* Only a request for executable memory gets here (the loader's few mappings of code, a JIT's). */
static __always_inline void note_exec(int slot, int kind, u64 cgroup)
{
	struct family_set *set = argument_set(cgroup);
	if (!set)
		return;
	u64 bit = 1ULL << (slot * 2 + kind - 1);
	if (!(set->exec & bit)) {
		__sync_fetch_and_or(&set->exec, bit);
		changed();
	}
}

/* socket's and the memory syscalls' arguments; every other syscall pays the comparisons */
static __always_inline void note_arguments(struct pt_regs *regs, long id, u64 cgroup)
{
	if (id == NR_SOCKET || id == NR_SOCKETPAIR) {
		note_family(regs, id, cgroup);
		return;
	}
	int slot = exec_slot(id);
	if (slot >= 0) {
		int kind = exec_kind(regs, slot);
		if (kind)
			note_exec(slot, kind, cgroup);
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(record_seen, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf(); /* inlined by the JIT */
	if (task->seccomp.mode != SECCOMP_MODE_FILTER)
		return 0;
	u64 cgroup = task_cgroup(task);
	note_arguments(regs, id, cgroup);
	if ((unsigned long)id >= SYSCALL_BITS) { /* x32 or out of range: kept by number */
		u64 key = cgroup << 32 | (u32)id;
		add(&calls, &key);
		changed();
		return 0;
	}
	u32 slot = (u32)(cgroup * SYSCALL_BITS + id) & (SEEN_CACHE_SLOTS - 1);
	u64 tag = cgroup << 9 | id; /* 9 bits: SYSCALL_BITS */
	u64 *cached = bpf_map_lookup_elem(&seen_cache, &slot);
	if (cached && *cached == tag)
		return 0; /* the steady state: no call at all */
	struct syscall_set *set = bpf_map_lookup_elem(&seen, &cgroup);
	if (!set) { /* the container's first syscall; another CPU may insert it meanwhile */
		struct syscall_set empty = {}; /* on the stack: .data holds refusal_errno alone */
		bpf_map_update_elem(&seen, &cgroup, &empty, BPF_NOEXIST);
		set = bpf_map_lookup_elem(&seen, &cgroup);
		if (!set) { /* the map is full */
			note_lost();
			return 0;
		}
	}
	u64 bit = 1ULL << (id & 63);
	u32 index = (id >> 6) & (SYSCALL_BITS / 64 - 1);
	u64 *word = &set->words[index];
	if (!(*word & bit)) {
		if (in_runtime()) { /* the runtime's step: its own set, never cached */
			word = &set->runtime[index];
			if (!(*word & bit)) {
				__sync_fetch_and_or(word, bit);
				changed();
			}
			return 0;
		}
		__sync_fetch_and_or(word, bit);
		changed();
	}
	if (cached) /* the app's bit is set: from now on the shortcut answers */
		*cached = tag;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(record_count, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != SECCOMP_MODE_FILTER)
		return 0;
	u64 cgroup = task_cgroup(task);
	note_arguments(regs, id, cgroup);
	u64 key = cgroup << 32 | (u32)id;
	if (in_runtime())
		key |= RUNTIME_FLAG;
	u32 slot = (u32)(cgroup * SYSCALL_BITS + id) & (COUNT_SLOTS - 1);
	struct pending *pending = bpf_map_lookup_elem(&pending_calls, &slot);
	if (!pending) {
		add(&calls, &key);
		return 0;
	}
	if (pending->key == key) {
		pending->count += 1; /* the steady state */
		return 0;
	}
	/* evicted: into the shared map before the slot is reused, so a reader that reads the slots
	 * first and the shared map second never misses a pair (a count may show twice in one
	 * read while containers run; the last read, after they stopped, is exact) */
	if (pending->key)
		add_n(&calls, &pending->key, pending->count);
	pending->count = 1;
	pending->key = key;
	return 0;
}

/* sys_enter never fires for a syscall seccomp refused; sys_exit does, with ret = -errno. */
SEC("tp_btf/sys_exit")
int BPF_PROG(enforce_refused, struct pt_regs *regs, long ret)
{
	if (ret != -refusal_errno || !filtered())
		return 0;
	long nr = SYSCALL_NR(regs);
	if (nr < 0) /* rt_sigreturn's exit: the restored value may look like a refusal */
		return 0;
	struct refusal key = { .cgroup = bpf_get_current_cgroup_id(), .nr = nr };
	if (nr == NR_SOCKET || nr == NR_SOCKETPAIR) { /* which family was refused */
		u64 family = ARG0(regs);
		key.arg = 1 + (family < ANY_FAMILY ? family : ANY_FAMILY);
		if (nr == NR_SOCKET && family == AF_NETLINK && netlink_protocol(regs) < ANY_PROTOCOL)
			key.arg += PROTOCOL_STRIDE * (netlink_protocol(regs) + 1);
		else if (nr == NR_SOCKET && type_slot(family) >= 0)
			key.arg += PROTOCOL_STRIDE * ((ARG1(regs) & SOCK_TYPE_MASK) + 1);
	} else { /* a memory syscall's request for executable memory: which kind */
		int slot = exec_slot(nr);
		int kind = slot >= 0 ? exec_kind(regs, slot) : 0;
		if (kind)
			key.arg = 1 + kind;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	bpf_probe_read_kernel_str(key.leader, sizeof(key.leader),
				  bpf_get_current_task_btf()->group_leader->comm);
	add(&refused, &key);
	changed();
	return 0;
}

/* A path is too big for the program's 512-byte stack: it is read into this CPU's slot. */
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, u32); __type(value, struct path);
	 __uint(max_entries, 1); } path_scratch SEC(".maps");

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_made, struct cgroup *cgrp, const char *path)
{
	if (cgrp->root->hierarchy_id != 0) /* cgroup v1 hierarchies: not what cgroup ids name */
		return 0;
	u64 id = cgrp->kn->id;
	u32 zero = 0;
	struct path *value = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!value)
		return 0;
	/* the reader stops at the first NUL: what an earlier, longer path left after it is unread */
	bpf_probe_read_kernel_str(value->text, sizeof(value->text), path);
	if (bpf_map_update_elem(&cgroup_paths, &id, value, BPF_ANY) != 0)
		note_lost();
	else
		changed();
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_noted, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
#if defined(__TARGET_ARCH_x86)
	if (bpf_get_current_task_btf()->thread_info.status & TS_COMPAT) {
		u64 cgroup = bpf_get_current_cgroup_id();
		add(&compat_execs, &cgroup);
		changed();
	}
#endif
	if (!filtered()) /* a container's exec (the runtime's of the app, or the app's own) */
		return 0;
	u32 zero = 0;
	struct exec_path *key = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!key)
		return 0;
	u64 *words = (u64 *)key;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*key) / 8); i++) /* no byte of an earlier path left over */
		words[i] = 0;
	key->cgroup = bpf_get_current_cgroup_id();
	bpf_probe_read_kernel_str(key->text, sizeof(key->text), bprm->filename);
	u64 one = 1, *n = bpf_map_lookup_elem(&exec_paths, key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	if (bpf_map_update_elem(&exec_paths, key, &one, BPF_NOEXIST) == 0)
		changed();
	return 0;
}

/* Not used by the plugin: the benchmarks attach it to measure what the kernel's dispatch to any
 * sys_enter program costs (the floor), apart from what record_seen itself does. */
SEC("tp_btf/sys_enter")
int BPF_PROG(floor_empty, struct pt_regs *regs, long id)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
