/* pytest-seccomp's tracer helper: loads tracer.bpf.o on the engine's own kernel, from inside a
 * privileged container, for a pytest process that cannot (not root, or not on that host).
 *
 * Why a program of its own: the helper image is made from files the plugin ships (this program,
 * linked statically, and the compiled object), imported as a FROM-scratch image, so it needs no
 * registry, no Python and no libbpf on the engine's host. It knows nothing of the recording: it
 * loads, attaches, and answers three questions over its stdin/stdout (the container's attached
 * stream) until stdin closes, when it exits and the kernel detaches everything.
 *
 *   argv: helper OBJECT RODATA_HEX PROGRAMS(a,b,c) SIZES(map=n,map=n)
 *   every message either way: u8 kind, u32 length (little-endian), payload
 *   first answer: 'O' + u32 maps + per map (u8 name length, name, u32 key size, u32 value size,
 *                 u32 cpus: 0 unless per-CPU, when value size already covers every CPU)
 *   'T' names\0names...  -> 'O' + u8 1 if every link is still attached (else 0), then per
 *                            map: u32 entries, then entries * (key, value)
 *   'H' cgroup name       -> 'O': a seccomp-confined child ran in that new cgroup, now removed
 *   any failure           -> 'E' + text
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CGROUP_ROOT "/cgroup2" /* the host's unified hierarchy, mounted here by the helper */
#define MAX_LINKS 16

static char messages[2048]; /* libbpf's last warnings, sent with a failure */
static struct bpf_link *links[MAX_LINKS];
static int link_count;
static int refusal_errno = 1;

static int keep_message(enum libbpf_print_level level, const char *format, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	size_t used = strlen(messages);
	if (used + 2 < sizeof(messages)) {
		if (used)
			strcat(messages, " | ");
		used = strlen(messages);
		vsnprintf(messages + used, sizeof(messages) - used, format, args);
		size_t end = strlen(messages);
		while (end && messages[end - 1] == '\n')
			messages[--end] = 0;
	}
	return 0;
}

static void write_all(const void *data, size_t size)
{
	const char *p = data;
	while (size) {
		ssize_t n = write(1, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3); /* the session is gone */
		p += n;
		size -= (size_t)n;
	}
}

static int read_all(void *data, size_t size)
{
	char *p = data;
	while (size) {
		ssize_t n = read(0, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static void send_message(char kind, const void *payload, uint32_t size)
{
	write_all(&kind, 1);
	write_all(&size, 4); /* both ends are little-endian: x86_64 and aarch64 */
	if (size)
		write_all(payload, size);
}

static void fail(const char *format, ...)
{
	char text[3072];
	va_list args;
	va_start(args, format);
	int n = vsnprintf(text, sizeof(text), format, args);
	va_end(args);
	if (messages[0] && n > 0 && (size_t)n < sizeof(text))
		snprintf(text + n, sizeof(text) - (size_t)n, " (%s)", messages);
	send_message('E', text, (uint32_t)strlen(text));
}

/* A growing reply buffer. */
struct buffer { char *data; size_t size, capacity; };

static void put(struct buffer *b, const void *data, size_t size)
{
	if (b->size + size > b->capacity) {
		size_t want = b->capacity ? b->capacity * 2 : 65536;
		while (want < b->size + size)
			want *= 2;
		b->data = realloc(b->data, want);
		if (!b->data)
			_exit(4);
		b->capacity = want;
	}
	memcpy(b->data + b->size, data, size);
	b->size += size;
}

/* A per-CPU map's values per entry (one per possible CPU), else 0. */
static uint32_t cpus_of(const struct bpf_map *map)
{
	enum bpf_map_type type = bpf_map__type(map);
	if (type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	    type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		return (uint32_t)libbpf_num_possible_cpus();
	return 0;
}

/* What a lookup writes: a per-CPU map's value, 8-byte aligned, once per CPU. */
static uint32_t value_bytes(const struct bpf_map *map)
{
	uint32_t size = bpf_map__value_size(map), cpus = cpus_of(map);
	return cpus ? (size + 7) / 8 * 8 * cpus : size;
}

/* Every entry of one map, appended as u32 count then (key, value) pairs. */
static int dump_map(struct bpf_map *map, struct buffer *out)
{
	uint32_t key_size = bpf_map__key_size(map), value_size = value_bytes(map);
	char *key = calloc(1, key_size), *next = calloc(1, key_size), *value = calloc(1, value_size);
	size_t count_at = out->size;
	uint32_t count = 0;
	int fd = bpf_map__fd(map), first = 1, err = 0;
	put(out, &count, 4);
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		memcpy(key, next, key_size);
		first = 0;
		if (bpf_map_lookup_elem(fd, key, value) != 0)
			continue; /* removed meanwhile */
		put(out, key, key_size);
		put(out, value, value_size);
		count++;
	}
	if (errno != ENOENT)
		err = -errno;
	memcpy(out->data + count_at, &count, 4);
	free(key);
	free(next);
	free(value);
	return err;
}

static uint8_t links_alive(void)
{
	uint8_t alive = 1;
	for (int i = 0; i < link_count; i++) {
		struct bpf_link_info info;
		uint32_t length = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_link__fd(links[i]), &info, &length) != 0)
			alive = 0;
	}
	return alive;
}

static void answer_tables(struct bpf_object *obj, char *names, uint32_t size)
{
	struct buffer out = {0};
	uint8_t alive = links_alive();
	put(&out, &alive, 1);
	for (char *name = names; name < names + size; name += strlen(name) + 1) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
		if (!map) {
			fail("the tracer object has no map named %s", name);
			free(out.data);
			return;
		}
		int err = dump_map(map, &out);
		if (err) {
			fail("reading the map %s failed: %s", name, strerror(-err));
			free(out.data);
			return;
		}
	}
	send_message('O', out.data, (uint32_t)out.size);
	free(out.data);
}

/* A child in a cgroup of the session's choosing installs a seccomp filter (mode 2, as in a
 * container) that refuses getppid with the refusal errno, calls it and exits: the session then
 * reads the maps and must find it there. */
static void answer_handshake(const char *name)
{
	char dir[512], procs[600];
	snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s", name);
	if (strchr(name, '/') || mkdir(dir, 0755) != 0) {
		fail("the handshake's cgroup %s could not be made: %s", dir, strerror(errno));
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		int fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(10);
		close(fd);
		struct sock_filter filter[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (refusal_errno & SECCOMP_RET_DATA)),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog program = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
								     &program))
			_exit(11);
		syscall(__NR_getppid);
		syscall(__NR_getpid);
		_exit(0);
	}
	int status = 0;
	if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		rmdir(dir);
		fail("the handshake's child failed (status %d)", status);
		return;
	}
	for (int attempt = 0; rmdir(dir) != 0 && errno == EBUSY && attempt < 100; attempt++)
		usleep(1000);
	send_message('O', NULL, 0);
}

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return 1;
	return 0;
}

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fail("usage: %s OBJECT RODATA_HEX PROGRAMS SIZES", argv[0]);
		return 2;
	}
	libbpf_set_print(keep_message);
	mkdir(CGROUP_ROOT, 0755);
	if (mount("none", CGROUP_ROOT, "cgroup2", 0, NULL) != 0 && errno != EBUSY) {
		fail("the helper could not mount the cgroup2 hierarchy: %s (it needs --privileged "
		     "and the host's cgroup namespace)", strerror(errno));
		return 1;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || libbpf_get_error(obj)) {
		fail("libbpf could not open %s", argv[1]);
		return 1;
	}
	struct bpf_program *program;
	bpf_object__for_each_program(program, obj)
		bpf_program__set_autoload(program, listed(argv[3], bpf_program__name(program)));
	for (char *entry = strtok(argv[4], ","); entry; entry = strtok(NULL, ",")) {
		char *equals = strchr(entry, '=');
		if (!equals)
			continue;
		*equals = 0;
		struct bpf_map *map = bpf_object__find_map_by_name(obj, entry);
		if (!map || bpf_map__set_max_entries(map, (uint32_t)strtoul(equals + 1, NULL, 10))) {
			fail("the tracer's map %s cannot be sized", entry);
			return 1;
		}
	}
	size_t settings_size = 0;
	struct bpf_map *data = bpf_object__find_map_by_name(obj, ".data");
	char *settings = data ? (char *)bpf_map__initial_value(data, &settings_size) : NULL;
	if (!settings || strlen(argv[2]) != settings_size * 2) {
		fail("the tracer's settings are %zu bytes, not %zu", settings_size, strlen(argv[2]) / 2);
		return 1;
	}
	for (size_t i = 0; i < settings_size; i++)
		settings[i] = (char)(hex_value(argv[2][2 * i]) << 4 | hex_value(argv[2][2 * i + 1]));
	memcpy(&refusal_errno, settings, sizeof(int) <= settings_size ? sizeof(int) : 0);
	if (bpf_object__load(obj)) {
		fail("the kernel refused the tracer's eBPF program");
		return 1;
	}
	bpf_object__for_each_program(program, obj) {
		if (!listed(argv[3], bpf_program__name(program)))
			continue;
		struct bpf_link *link = bpf_program__attach(program);
		if (!link || libbpf_get_error(link) || link_count == MAX_LINKS) {
			fail("the tracer could not attach %s", bpf_program__name(program));
			return 1;
		}
		links[link_count++] = link;
	}
	struct buffer ready = {0};
	uint32_t maps = 0;
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj)
		maps++;
	put(&ready, &maps, 4);
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		uint8_t length = (uint8_t)strlen(name);
		uint32_t sizes[3] = {bpf_map__key_size(map), value_bytes(map), cpus_of(map)};
		put(&ready, &length, 1);
		put(&ready, name, length);
		put(&ready, sizes, sizeof(sizes));
	}
	send_message('O', ready.data, (uint32_t)ready.size);
	free(ready.data);

	for (;;) {
		char kind;
		uint32_t size;
		if (read_all(&kind, 1) || read_all(&size, 4) || size > (1u << 20))
			break; /* stdin closed: the session ended, however it ended */
		char *payload = calloc(1, size + 1);
		if (!payload || read_all(payload, size))
			break;
		messages[0] = 0;
		if (kind == 'T')
			answer_tables(obj, payload, size);
		else if (kind == 'H')
			answer_handshake(payload);
		else
			fail("unknown request %c", kind);
		free(payload);
	}
	for (int i = 0; i < link_count; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return 0;
}
