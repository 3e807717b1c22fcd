"""A thin ctypes binding to the system's libbpf (Debian's libbpf1): just what the tracer uses.

Why not a package: no maintained Python binding of libbpf exists on PyPI; BCC's compiles C at run
time and needs kernel headers, which many CI kernels (this one included) lack. libbpf loads a
compiled CO-RE object against the kernel's BTF, so the object is built once and runs anywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterator
from errno import EINVAL, ENOENT, ENOSPC
from pathlib import Path
from typing import Any

from ...errors import TracerError

_VPRINTF = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_LEVEL_DEBUG = 2
# BPF_MAP_TYPE_PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH: user space reads a value per CPU
_PER_CPU_TYPES = (5, 6, 10)
SETTINGS = ".data"  # the program's settings: refusal_errno
COUNTERS = ".bss"  # the program's counters: changes
BPF_F_MMAPABLE = 1 << 10  # a map user space may mmap (libbpf asks it of global data)


class _Lib:
    """libbpf.so.1 and libc, loaded on first use. libbpf is silent unless messages_kept(): it
    calls its print hook for each of its ~200 debug lines of a load, and each call into Python
    waits for the GIL, which a busy main thread holds for up to 5 ms at a time."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("bpf") or "libbpf.so.1"
        try:
            self.bpf = ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            raise TracerError(
                f"libbpf could not be loaded ({exc}); the tracer loads its eBPF program with it. "
                "Install it (`apt-get install libbpf1`) and try again."
            ) from None
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.messages: list[str] = []
        self._printer = _VPRINTF(self._print)  # kept referenced: libbpf calls it later
        b = self.bpf
        p, c_int, c_uint, c_char_p, c_bool = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                                             ctypes.c_char_p, ctypes.c_bool)
        for fn, res, args in (
            ("libbpf_set_print", p, [p]),
            ("libbpf_get_error", ctypes.c_long, [p]),
            ("libbpf_version_string", c_char_p, []),
            ("bpf_object__open_file", p, [c_char_p, p]),
            ("bpf_object__load", c_int, [p]),
            ("bpf_object__close", None, [p]),
            ("bpf_object__find_program_by_name", p, [p, c_char_p]),
            ("bpf_object__find_map_by_name", p, [p, c_char_p]),
            ("bpf_object__next_program", p, [p, p]),
            ("bpf_program__name", c_char_p, [p]),
            ("bpf_program__set_autoload", c_int, [p, c_bool]),
            ("bpf_program__attach", p, [p]),
            ("bpf_program__fd", c_int, [p]),
            ("bpf_link__destroy", c_int, [p]),
            ("bpf_link__fd", c_int, [p]),
            ("bpf_map__set_max_entries", c_int, [p, c_uint]),
            ("bpf_map__initial_value", p, [p, ctypes.POINTER(ctypes.c_size_t)]),
            ("bpf_map__fd", c_int, [p]),
            ("bpf_map__map_flags", c_uint, [p]),
            ("bpf_map_get_next_key", c_int, [c_int, p, p]),
            ("bpf_map_lookup_batch", c_int, [c_int, p, p, p, p, ctypes.POINTER(c_uint), p]),
            ("bpf_map__key_size", c_uint, [p]),
            ("bpf_map__value_size", c_uint, [p]),
            ("bpf_map__type", c_int, [p]),
            ("libbpf_num_possible_cpus", c_int, []),
            ("bpf_map_lookup_elem", c_int, [c_int, p, p]),
            ("bpf_map_update_elem", c_int, [c_int, p, p, ctypes.c_uint64]),
        ):
            func = getattr(b, fn)
            func.restype, func.argtypes = res, args
        b.libbpf_set_print(None)

    @contextlib.contextmanager
    def messages_kept(self) -> Iterator[None]:
        """libbpf's warnings kept while the block runs, for an error report (the caller repeats
        a failed step inside this block to learn what libbpf said)."""
        self.bpf.libbpf_set_print(ctypes.cast(self._printer, ctypes.c_void_p))
        try:
            yield
        finally:
            self.bpf.libbpf_set_print(None)

    def _print(self, level: int, fmt: bytes, args: int) -> int:
        if level < _LEVEL_DEBUG:
            buf = ctypes.create_string_buffer(512)
            self.libc.vsnprintf(buf, ctypes.c_size_t(len(buf)), ctypes.c_char_p(fmt),
                                ctypes.c_void_p(args))
            self.messages.append(buf.value.decode(errors="replace").strip())
        return 0


_lib: _Lib | None = None


def lib() -> _Lib:
    global _lib  # one process-wide handle: libbpf's print hook is process-wide too
    if _lib is None:
        _lib = _Lib()
    return _lib


def _fail(what: str, err: int) -> TracerError:
    said = " | ".join(m for m in lib().messages[-4:] if m) or os.strerror(abs(err))
    return TracerError(f"{what} ({said})")


def version() -> str:
    """libbpf's own version, e.g. "v1.1" (printed with the benchmarks)."""
    return str(lib().bpf.libbpf_version_string().decode())


class BpfMap:
    """A loaded map, read from user space with the bpf() syscall."""

    def __init__(self, fd: int, key_size: int, value_size: int, cpus: int = 0) -> None:
        self.fd, self.key_size, self.value_size = fd, key_size, value_size
        self.cpus = cpus  # a per-CPU map: each value is `cpus` values, 8-byte aligned

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every entry, read in batches (one bpf() call per few hundred entries: a read of the
        maps at every test's edges stays well under a millisecond)."""
        b = lib().bpf
        batch = 256
        start = ctypes.create_string_buffer(max(self.key_size, 8))  # opaque position tokens
        after = ctypes.create_string_buffer(max(self.key_size, 8))
        first = True
        while True:
            keys = ctypes.create_string_buffer(self.key_size * batch)
            values = ctypes.create_string_buffer(self.value_size * batch)
            count = ctypes.c_uint32(batch)
            err = b.bpf_map_lookup_batch(self.fd, None if first else start, after, keys, values,
                                         ctypes.byref(count), None)
            errno = ctypes.get_errno() if err else 0
            if err and errno == ENOSPC:  # one bucket holds more than `batch` entries
                batch *= 4
                continue
            if err and errno == EINVAL and first:  # no batch operations here: one by one
                yield from self._items_one_by_one()
                return
            k, v = keys.raw, values.raw
            for i in range(count.value):
                yield (k[i * self.key_size:(i + 1) * self.key_size],
                       v[i * self.value_size:(i + 1) * self.value_size])
            if err:
                if errno == ENOENT:
                    return
                raise _fail("reading a tracer map failed", errno)
            ctypes.memmove(start, after, len(after))
            first = False

    def _items_one_by_one(self) -> Iterator[tuple[bytes, bytes]]:
        b = lib().bpf
        key = ctypes.create_string_buffer(self.key_size)
        next_key = ctypes.create_string_buffer(self.key_size)
        value = ctypes.create_string_buffer(self.value_size)
        previous: ctypes.Array[ctypes.c_char] | None = None
        while b.bpf_map_get_next_key(self.fd, previous, next_key) == 0:
            ctypes.memmove(key, next_key, self.key_size)
            if b.bpf_map_lookup_elem(self.fd, key, value) == 0:  # else deleted meanwhile
                yield key.raw, value.raw
            previous = key

    def update(self, key: bytes, value: bytes) -> None:
        """Write one entry (the settings; the benchmarks fill maps to show lookups stay flat)."""
        if lib().bpf.bpf_map_update_elem(self.fd, ctypes.c_char_p(key), ctypes.c_char_p(value),
                                         0) != 0:
            raise _fail("a map update failed", ctypes.get_errno())

    def lookup(self, key: bytes) -> bytes | None:
        value = ctypes.create_string_buffer(self.value_size)
        if lib().bpf.bpf_map_lookup_elem(self.fd, ctypes.c_char_p(key), value) != 0:
            return None
        return value.raw


class BpfObject:
    """A compiled eBPF object: choose programs and sizes, load, attach; close() detaches all."""

    def __init__(self, path: Path) -> None:
        self._lib = lib()
        self._obj = self._lib.bpf.bpf_object__open_file(str(path).encode(), None)
        if not self._obj or self._lib.bpf.libbpf_get_error(self._obj):
            self._obj = None
            raise _fail(f"libbpf could not open {path}", ctypes.get_errno())
        self._links: list[int] = []
        self._mapped: list[Any] = []  # mmap'd maps, unmapped on close

    def _named(self, kind: str, name: str) -> int:
        finder = getattr(self._lib.bpf, f"bpf_object__find_{kind}_by_name")
        handle = finder(self._obj, name.encode())
        if not handle:
            raise TracerError(f"the tracer object has no {kind} named {name}")
        return int(handle)

    def select_programs(self, names: set[str]) -> None:
        b = self._lib.bpf
        prog = b.bpf_object__next_program(self._obj, None)
        while prog:
            err = b.bpf_program__set_autoload(prog, b.bpf_program__name(prog).decode() in names)
            if err:
                raise _fail("the tracer's programs cannot be chosen", err)
            prog = b.bpf_object__next_program(self._obj, prog)

    def set_max_entries(self, map_name: str, entries: int) -> None:
        err = self._lib.bpf.bpf_map__set_max_entries(self._named("map", map_name), entries)
        if err:
            raise _fail(f"the tracer's map {map_name} cannot hold {entries} entries", err)

    def set_settings(self, data: bytes) -> None:
        """Set the program's settings (its .data section) for the load; `data` must cover the
        whole section, so a variable added to the source is never left unset."""
        size = ctypes.c_size_t()
        address = self._lib.bpf.bpf_map__initial_value(self._named("map", SETTINGS),
                                                       ctypes.byref(size))
        if not address or size.value != len(data):
            raise TracerError(f"the tracer's settings are {size.value} bytes, not {len(data)}")
        ctypes.memmove(address, data, len(data))

    def mapped_counter(self, map_name: str) -> Callable[[], int] | None:
        """A reader of the first u64 of a loaded global-data map (`.bss`'s `changes`) straight
        from the kernel's memory: the map is mmap'd here when the kernel lets it
        (BPF_F_MMAPABLE, which libbpf asks of global data). A read is a memory load, where a
        lookup is a syscall through ctypes (about 5 us: the cost of every window's "anything
        new?"). None where it cannot be mapped."""
        import mmap
        import struct

        handle = self._named("map", map_name)
        if not self._lib.bpf.bpf_map__map_flags(handle) & BPF_F_MMAPABLE:
            return None
        try:
            memory = mmap.mmap(self._lib.bpf.bpf_map__fd(handle), mmap.PAGESIZE,
                               mmap.MAP_SHARED, mmap.PROT_READ)
        except (OSError, ValueError):
            return None
        self._mapped.append(memory)  # (closed with the object)
        unpack = struct.Struct("<Q").unpack_from
        return lambda: int(unpack(memory, 0)[0])

    def write_settings(self, data: bytes) -> None:
        """Change the loaded program's settings (the .data map's one entry), whole."""
        settings = self.map(SETTINGS)
        if settings.value_size != len(data):
            raise TracerError(f"the tracer's settings are {settings.value_size} bytes, not "
                              f"{len(data)}")
        settings.update(bytes(settings.key_size), data)

    def load(self) -> None:
        err = self._lib.bpf.bpf_object__load(self._obj)
        if err:
            raise _fail("the kernel refused the tracer's eBPF program", err)

    def attach(self, program: str) -> None:
        link = self._lib.bpf.bpf_program__attach(self._named("program", program))
        if not link or self._lib.bpf.libbpf_get_error(link):
            raise _fail(f"the tracer could not attach {program}", ctypes.get_errno())
        self._links.append(link)

    def map(self, name: str) -> BpfMap:
        """A loaded map, with its key and value sizes as the compiled object defines them
        (never typed again on this side, where a mismatch would let the kernel write past a
        buffer)."""
        handle = self._named("map", name)
        bpf = self._lib.bpf
        value_size = int(bpf.bpf_map__value_size(handle))
        cpus = 0
        if int(bpf.bpf_map__type(handle)) in _PER_CPU_TYPES:  # one value per possible CPU
            cpus = int(bpf.libbpf_num_possible_cpus())
            if cpus <= 0:
                raise _fail("the number of possible CPUs is unknown", -cpus)
            value_size = (value_size + 7) // 8 * 8 * cpus
        return BpfMap(bpf.bpf_map__fd(handle), int(bpf.bpf_map__key_size(handle)), value_size,
                      cpus)

    def link_fds(self) -> list[int]:
        """The descriptors of the attached programs' links (to notice one being closed)."""
        return [int(self._lib.bpf.bpf_link__fd(link)) for link in self._links]

    def forget_links(self) -> None:
        """Drop the links without closing them: their descriptors were closed elsewhere."""
        self._links.clear()

    def close(self) -> None:
        """Detach every program and free the maps."""
        for link in self._links:
            self._lib.bpf.bpf_link__destroy(link)
        self._links.clear()
        for memory in self._mapped:
            memory.close()
        self._mapped.clear()
        if self._obj:
            self._lib.bpf.bpf_object__close(self._obj)
            self._obj = None
