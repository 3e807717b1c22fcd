// SPDX-License-Identifier: GPL-2.0
/* The pieces of pytest-seccomp's record program, one program each, to measure on a CPU what
 * each costs per sys_enter (benchmarks/bench_pieces.py attaches them one at a time). Each
 * program adds one piece to the one before it, so the differences are the pieces' prices. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

typedef __u64 u64;
typedef __u32 u32;

struct seccomp { int mode; } __attribute__((preserve_access_index));
struct kernfs_node { u64 id; } __attribute__((preserve_access_index));
struct cgroup { struct kernfs_node *kn; } __attribute__((preserve_access_index));
struct css_set { struct cgroup *dfl_cgrp; } __attribute__((preserve_access_index));
struct task_struct {
	struct seccomp seccomp;
	struct css_set *cgroups;
} __attribute__((preserve_access_index));
struct pt_regs { unsigned long orig_ax; } __attribute__((preserve_access_index));

struct bits { u64 words[16]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, u64); __type(value, struct bits); __uint(max_entries, 1024); } hashed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, u32); __type(value, u64);
	 __uint(max_entries, 16384); } direct SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, u32); __type(value, u64);
	 __uint(max_entries, 16384); } per_cpu SEC(".maps");
volatile u64 sink;

/* 1. the task and its seccomp mode (bpf_get_current_task_btf, inlined by recent JITs) */
SEC("tp_btf/sys_enter")
int BPF_PROG(p1_task_mode, struct pt_regs *regs, long id)
{
	return bpf_get_current_task_btf()->seccomp.mode == 2 ? 1 : 0;
}

/* 2. + the cgroup id by the helper (a call) */
SEC("tp_btf/sys_enter")
int BPF_PROG(p2_cgroup_helper, struct pt_regs *regs, long id)
{
	if (bpf_get_current_task_btf()->seccomp.mode != 2)
		return 0;
	sink = bpf_get_current_cgroup_id();
	return 0;
}

/* 3. + the cgroup id by three loads instead */
SEC("tp_btf/sys_enter")
int BPF_PROG(p3_cgroup_loads, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != 2)
		return 0;
	sink = task->cgroups->dfl_cgrp->kn->id;
	return 0;
}

/* 4. the old steady state: helper cgroup id + hash lookup + a bit test */
SEC("tp_btf/sys_enter")
int BPF_PROG(p4_hash_lookup, struct pt_regs *regs, long id)
{
	if (bpf_get_current_task_btf()->seccomp.mode != 2)
		return 0;
	u64 cgroup = bpf_get_current_cgroup_id();
	struct bits *set = bpf_map_lookup_elem(&hashed, &cgroup);
	if (!set) {
		struct bits empty = {};
		bpf_map_update_elem(&hashed, &cgroup, &empty, BPF_NOEXIST);
		return 0;
	}
	u64 bit = 1ULL << (id & 63);
	u64 *word = &set->words[(id >> 6) & 15];
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);
	return 0;
}

/* 5. loads for the cgroup + hash lookup: what the call for the id costs inside 4 */
SEC("tp_btf/sys_enter")
int BPF_PROG(p5_loads_hash, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != 2)
		return 0;
	u64 cgroup = task->cgroups->dfl_cgrp->kn->id;
	struct bits *set = bpf_map_lookup_elem(&hashed, &cgroup);
	if (!set) {
		struct bits empty = {};
		bpf_map_update_elem(&hashed, &cgroup, &empty, BPF_NOEXIST);
		return 0;
	}
	u64 bit = 1ULL << (id & 63);
	u64 *word = &set->words[(id >> 6) & 15];
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);
	return 0;
}

/* a direct-mapped slot for (cgroup, syscall) in `map`, written only when another pair held it */
static __always_inline int cache_slot(void *map, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != 2)
		return 0;
	u64 cgroup = task->cgroups->dfl_cgrp->kn->id;
	u32 slot = (u32)(cgroup * 512 + id) & 16383;
	u64 tag = cgroup << 9 | id;
	u64 *cached = bpf_map_lookup_elem(map, &slot);
	if (cached && *cached != tag)
		*cached = tag;
	return 0;
}

/* 6. the new steady state: loads for the cgroup + a direct-mapped slot of a shared array */
SEC("tp_btf/sys_enter")
int BPF_PROG(p6_loads_array, struct pt_regs *regs, long id)
{
	return cache_slot(&direct, id);
}

/* 7. the same with a per-CPU array (each CPU fills its own slots) */
SEC("tp_btf/sys_enter")
int BPF_PROG(p7_loads_percpu, struct pt_regs *regs, long id)
{
	return cache_slot(&per_cpu, id);
}

/* 8. a shared atomic add per event (what counting every call costs without per-CPU counters) */
SEC("tp_btf/sys_enter")
int BPF_PROG(p8_array_atomic, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != 2)
		return 0;
	u32 slot = (u32)id & 16383;
	u64 *n = bpf_map_lookup_elem(&direct, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

/* 9. a per-CPU plain add per event */
SEC("tp_btf/sys_enter")
int BPF_PROG(p9_percpu_add, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != 2)
		return 0;
	u32 slot = (u32)id & 16383;
	u64 *n = bpf_map_lookup_elem(&per_cpu, &slot);
	if (n)
		*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
