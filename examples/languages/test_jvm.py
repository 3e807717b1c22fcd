"""The JVM service: the JDK's HTTP server on a thread pool, file I/O, parallel streams."""

from conftest import start

jvm = start("pytest-seccomp/jvm:latest")


def test_health(jvm):
    assert jvm.get("/health") == "ok"


def test_parallel_streams_hash_on_the_fork_join_pool(jvm):
    assert len(jvm.get("/work?n=16")) == 4


def test_a_file_is_written_and_read_back(jvm):
    assert jvm.get("/file?name=note") == "hello note"


def test_fifty_requests_at_once(jvm):
    answers = jvm.many([f"/work?n=4&i={i}" if i % 2 else f"/file?name=f{i}" for i in range(50)])
    assert sum(answer.startswith("hello f") for answer in answers) == 25
