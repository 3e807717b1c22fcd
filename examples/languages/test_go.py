"""The Go service: a static binary with goroutines, timers and file I/O."""

from conftest import start

go = start("pytest-seccomp/go:latest")


def test_health(go):
    assert go.get("/health") == "ok"


def test_goroutines_hash_in_parallel(go):
    assert len(go.get("/work?n=32")) == 8


def test_a_file_is_written_synced_and_read_back(go):
    assert go.get("/file?name=note") == "hello note"


def test_fifty_requests_at_once(go):
    answers = go.many([f"/work?n=4&i={i}" if i % 2 else f"/file?name=f{i}" for i in range(50)])
    assert sum(answer.startswith("hello f") for answer in answers) == 25
