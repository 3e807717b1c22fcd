"""The Node.js service: http, fs, crypto, a timer, a child process and a worker thread."""

from conftest import start

node = start("pytest-seccomp/node:latest")


def test_crypto_runs_on_libuvs_thread_pool(node):
    assert len(node.get("/hash?text=abc")) == 8


def test_a_file_is_written_and_read_back(node):
    assert node.get("/file?name=note") == "hello note"


def test_a_timer_and_a_child_process(node):
    assert node.get("/timer") == "later"
    assert node.get("/child") == "child"


def test_a_worker_thread(node):
    assert node.get("/worker?n=100") == str(sum(range(100)))


def test_fifty_requests_at_once(node):
    routes = ["/hash?text={i}", "/file?name=f{i}", "/timer", "/worker?n={i}", "/health"]
    answers = node.many([routes[i % 5].format(i=i) for i in range(50)])
    assert answers.count("later") == 10 and answers.count("ok") == 10
