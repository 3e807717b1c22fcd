"""The HTML report's picture rendered in a real browser, and CI's step summary and annotations."""

from __future__ import annotations

import json
import os
import re
import subprocess

from .test_review import committed, profile_text  # noqa: F401  (the fixture)

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MEASURE = """<script>
const box = document.getElementById("surface-picture").getBoundingClientRect();
document.body.dataset.picture = Math.round(box.width) + "x" + Math.round(box.height);
</script>"""


def test_the_page_s_picture_marks_every_default_syscall_and_the_drift(committed, tmp_path):  # noqa: F811
    result = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check",
                                            "--seccomp-html=html")
    assert result.ret == 6  # mkdir is drift
    page = (committed.path / "html" / "pytest-seccomp__busybox.html").read_text()
    assert "<script" not in page  # the page itself needs no JavaScript
    profile = json.loads(profile_text(committed))  # the committed one: the check wrote nothing
    default_count = int(re.search(r'id="default-count">(\d+)<', page).group(1))
    marks = re.findall(r'<g class="mark (\w+)"><title>([^<]*)</title>', page)
    assert len(marks) == default_count
    titles = dict((t.split(":", 1)[0], (kind, t)) for kind, t in marks)
    assert titles["mkdir"][0] == "app" and "first needed by test_app.py::test_mkdir" in \
        titles["mkdir"][1] and "added since the committed profile" in titles["mkdir"][1]
    assert page.count('class="drift-added"') == 1 + 1  # mkdir's ring, and the legend's
    runtime = {n for r in profile["syscalls"] if "what the runtime" in r.get("comment", "")
               for n in r["names"]}
    assert runtime and all(titles[n][0] == "runtime" for n in runtime if n in titles)
    assert titles["mount"][0] == "removed"
    assert 'id="contributions"' in page and "test_app.py::test_mkdir" in page
    # rendered by Chromium: the picture is laid out at its size
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run([*CHROMIUM, f"--user-data-dir={tmp_path / 'c'}", "--dump-dom",
                          measured.as_uri()], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    width, height = map(int, re.search(r'data-picture="(\d+)x(\d+)"', dom).groups())
    assert width >= 400 and height >= 200, (width, height)
    index = (committed.path / "html" / "index.html").read_text()
    assert index.count('class="bar"') == 1 and 'id="totals"' in index


def test_the_step_summary_and_annotations_under_github_actions(committed, tmp_path):  # noqa: F811
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true",
           "GITHUB_WORKSPACE": str(committed.path)}
    old = os.environ.copy()
    os.environ.update(env)
    try:
        drift = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check")
        enforce = committed.runpytest_subprocess("--seccomp-enforce", "--seccomp-strict")
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert drift.ret == 6
    drift.stdout.fnmatch_lines([
        "::error file=seccomp-profiles/pytest-seccomp/busybox.json,title=seccomp drift::"
        "pytest-seccomp/busybox: +mkdir needed by test_app.py::test_mkdir (container *)*"])
    enforce.stdout.fnmatch_lines([
        "::error file=test_app.py,title=seccomp refusal::mkdir refused x1 in "
        "test_app.py::test_mkdir: process 'mkdir', container *, image pytest-seccomp/busybox*"])
    text = summary.read_text()
    assert "### pytest-seccomp: recorded profiles" in text
    assert re.search(r"\| `pytest-seccomp/busybox` \| \d+ \| \d+ \| \+mkdir \| drifted \|", text)
    assert "### pytest-seccomp: enforced profiles" in text
    assert re.search(r"\| `pytest-seccomp/busybox` \| 2 \| 1 \|", text), text
    # outside Actions: no workflow commands in the output
    plain = committed.runpytest_subprocess("--seccomp-record", "--seccomp-check")
    assert "::error" not in plain.stdout.str()
