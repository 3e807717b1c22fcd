"""--seccomp-coverage's pure parts on small ELF files compiled here: what a binary imports and
makes directly, the libc table built from a compiled library, and every kind of file that cannot
be read fully says so in one line (no root, no engine)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.coverage.elf import (
    BinaryFacts,
    BinaryKind,
    number_before,
    read_binary,
    shell_commands,
    syscall_numbers,
)
from pytest_seccomp.coverage.gaps import coverage_of, libc_tables, possible_syscalls
from pytest_seccomp.coverage.image import Reached
from pytest_seccomp.coverage.libc_build import function_syscalls
from pytest_seccomp.profiles.syscalls import syscall_name, syscall_number

CC = shutil.which("gcc") or shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler on this machine")

PROGRAM = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    int fd = open("/tmp/pytest-seccomp-x", O_WRONLY | O_CREAT, 0600);
    fsync(fd);
    long out;  /* a direct syscall with a constant number: sync (162) */
    __asm__ volatile ("mov $162, %%eax\n\tsyscall" : "=a"(out) : : "rcx", "r11", "memory");
    return (int)out;
}
"""

LIBRARY = r"""
static long raw(long nr) {  /* the number is an argument: a trampoline */
    long out;
    __asm__ volatile ("syscall" : "=a"(out) : "a"(nr) : "rcx", "r11", "memory");
    return out;
}
__attribute__((noinline)) static long flush_it(void) {
    long out;
    __asm__ volatile ("mov $74, %%eax\n\tsyscall" : "=a"(out) : : "rcx", "r11", "memory");
    return out;
}
long api_flush(void) { return flush_it(); }
long api_sync(void) { return raw(162); }
long api_nothing(long x) { return x + 1; }
"""


def compile_c(tmp_path: Path, source: str, name: str, *flags: str) -> bytes:
    assert CC is not None
    path = tmp_path / f"{name}.c"
    path.write_text(source)
    out = tmp_path / name
    subprocess.run([CC, "-O1", "-o", str(out), str(path), *flags], check=True,
                   capture_output=True)
    return out.read_bytes()


def names(numbers: tuple[int, ...] | set[int] | frozenset[int]) -> set[str]:
    return {syscall_name(n) or str(n) for n in numbers}


@needs_cc
def test_a_dynamic_program_imports_its_libc_functions_and_makes_its_own_syscall(tmp_path):
    facts = read_binary(compile_c(tmp_path, PROGRAM, "prog"), "prog")
    assert facts.kind is BinaryKind.DYNAMIC
    assert {"fsync", "open"} <= set(facts.imports)
    assert "libc.so.6" in facts.needed
    assert names(facts.direct) == {"sync"}
    assert facts.note is None


@needs_cc
def test_the_reasons_name_the_binary_and_the_import(tmp_path):
    facts = read_binary(compile_c(tmp_path, PROGRAM, "prog"), "prog")
    reached = Reached(binaries={"/usr/bin/prog": facts,
                                "/lib/x86_64-linux-gnu/libc.so.6": BinaryFacts(BinaryKind.DYNAMIC)},
                      invoked={"/usr/bin/prog": "/usr/bin/prog"})
    routes = possible_syscalls(reached, syscall_name)
    assert routes["fsync"].label == "fsync: prog imports fsync"
    assert routes["openat"].via == "imports open"  # glibc's open() is openat
    assert routes["sync"].label == "sync: prog makes it directly"
    coverage = coverage_of("prog", reached, {"openat", "fsync", "futex"},
                           lambda name: name != "sync", syscall_name)
    assert "sync" not in [n.name for n in coverage.never_seen]  # the default refuses it: left out
    assert coverage.covered == 3 and coverage.possible == len(
        [n for n in routes if n != "sync"])
    assert "fsync" not in [n.name for n in coverage.never_seen]  # made by the tests: covered


@needs_cc
def test_a_static_program_is_read_from_its_syscall_instructions(tmp_path):
    facts = read_binary(compile_c(tmp_path, PROGRAM, "static", "-static"), "static")
    assert facts.kind is BinaryKind.STATIC
    assert facts.imports == ()
    assert {"fsync", "openat", "sync", "exit_group"} <= names(facts.direct)


@needs_cc
def test_a_stripped_program_keeps_its_imports_and_a_headerless_one_says_so(tmp_path):
    data = compile_c(tmp_path, PROGRAM, "prog")
    stripped = tmp_path / "prog"
    subprocess.run(["strip", "--strip-all", str(stripped)], check=True)
    facts = read_binary(stripped.read_bytes(), "prog")
    assert {"fsync", "open"} <= set(facts.imports) and names(facts.direct) == {"sync"}
    # no section headers at all (as sstrip leaves them): e_shoff, e_shnum, e_shstrndx = 0
    headerless = bytearray(data)
    headerless[0x28:0x30] = bytes(8)
    headerless[0x3C:0x40] = bytes(4)
    facts = read_binary(bytes(headerless), "prog")
    assert {"fsync", "open"} <= set(facts.imports), facts
    assert names(facts.direct) == {"sync"}
    assert facts.note == "prog has no section headers: its executable segments were read"


@needs_cc
def test_a_32_bit_program_is_named_not_read(tmp_path):
    try:
        data = compile_c(tmp_path, PROGRAM.replace("__asm__ volatile", "(void)0; //"), "p32", "-m32")
    except subprocess.CalledProcessError:
        pytest.skip("no 32-bit C library (gcc-multilib)")
    facts = read_binary(data, "p32")
    assert facts.kind is BinaryKind.UNSUPPORTED
    assert facts.note == "p32 is built for 386, not x86-64: not analysed"


def test_files_that_are_not_programs_say_what_they_are():
    assert read_binary(b"\x89PNG\r\n", "logo.png").note == (
        "logo.png is neither an ELF file nor a script")
    broken = read_binary(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\xff" * 40, "broken")
    assert broken.kind is BinaryKind.UNSUPPORTED and broken.note is not None
    assert broken.note.startswith("broken could not be read as ELF") or "not x86-64" in broken.note
    script = read_binary(b"#!/bin/sh\nset -e\npg_isready -q && exec redis-cli ping\nFOO=1 cat x\n",
                         "check.sh")
    assert script.kind is BinaryKind.SCRIPT and script.interpreter == ("/bin/sh",)
    assert script.commands == ("set", "pg_isready", "redis-cli", "cat")
    assert read_binary(b"#!/usr/bin/env python3 -u\nprint(1)\n", "app").interpreter == (
        "/usr/bin/env", "python3", "-u")


def test_shell_command_lines_name_their_programs():
    assert shell_commands("pg_isready -U postgres || exit 1") == ["pg_isready", "exit"]
    assert shell_commands("echo $(date) | tee /tmp/x; nice -n 5 gzip f") == [
        "echo", "date", "tee", "nice", "gzip"]  # a command substitution runs too
    assert shell_commands("psql -c 'SELECT count(*) FROM visits'") == ["psql"]


@needs_cc
def test_the_libc_table_builder_follows_calls_and_trampolines(tmp_path):
    data = compile_c(tmp_path, LIBRARY, "libt.so", "-shared", "-fPIC")
    table = function_syscalls(data)
    assert names(table["api_flush"]) == {"fsync"}
    assert names(table["api_sync"]) == {"sync"}  # the number passed to a trampoline
    assert table["api_nothing"] == frozenset()


def test_the_shipped_table_maps_glibc_and_musl_wrappers():
    tables = {t.name: t for t in libc_tables()}
    assert set(tables) == {"glibc", "musl"}
    glibc, musl = tables["glibc"], tables["musl"]
    assert "libc.so.6" in glibc.sonames and glibc.package.startswith("libc6 ")
    assert {"fsync"} <= glibc.functions["fsync"] and "openat" in glibc.functions["open"]
    assert "exit_group" in glibc.functions["_exit"]
    assert "fsync" in musl.functions["fsync"] and "read" in musl.functions["read"]
    assert "socket" in glibc.functions["socket"] and "socket" in musl.functions["socket"]


@given(st.integers(min_value=0, max_value=511),
       st.lists(st.sampled_from([(0, 3, "mov", "rdi, rbx"), (0, 3, "xor", "esi, esi"),
                                 (0, 2, "push", "rax"), (0, 4, "cmp", "eax, 1"),
                                 (0, 2, "je", "0x1234"), (0, 3, "mov", "r10, rcx")]), max_size=10))
def test_the_number_is_the_last_constant_put_in_eax(number, filler):
    assert number_before([(0, 5, "mov", f"eax, {hex(number)}"), *filler]) == number
    # copied through another register first
    assert number_before([(0, 5, "mov", f"edx, {number}"), *filler, (0, 2, "mov", "eax, edx")]
                         ) == number
    assert number_before([*filler, (0, 3, "mov", "eax, dword ptr [rbp - 4]")]) is None


@given(st.binary(max_size=200))
def test_any_bytes_scan_without_error(data):
    found, computed = syscall_numbers(data)
    assert all(0 <= n < 1024 for n in found) and computed >= 0
    assert read_binary(data, "x").kind in set(BinaryKind)


def test_syscall_numbers_decodes_a_known_sequence():
    # mov edi, 1 ; mov eax, 0x4a (fsync) ; syscall ; mov eax, edx... ; mov r10, rcx; syscall
    code = bytes.fromhex("bf01000000" "b84a000000" "0f05" "89d0" "4989ca" "0f05")
    found, computed = syscall_numbers(code)
    assert found == {syscall_number("fsync")} and computed == 1
