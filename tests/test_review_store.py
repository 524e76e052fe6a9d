"""Review decisions in real SQLite files: decide, undo, restart survival, two writers at once."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from review.store import ReviewStore, validate_fixes
from tests.apphelpers import ROOT

SHA = "f" * 64


def test_decide_replace_and_undo_restore_previous_states(tmp_path):
    s = ReviewStore(tmp_path / "r.sqlite")
    s.decide(SHA, 7, "accept", note="looks fine")
    s.decide(SHA, 7, "fix", {"left_knee": [10, 20, 2], "right_ankle": (5.5, 6.5, 1)})
    d = s.get(SHA, 7)
    assert d.decision == "fix" and d.note == "looks fine"  # note kept when not given
    assert d.fixes == {"left_knee": (10.0, 20.0, 2), "right_ankle": (5.5, 6.5, 1)}
    s.decide(SHA, 8, "reject", note="not a person")
    assert s.progress(SHA, [7, 8, 9]) == {"accept": 0, "reject": 1, "fix": 1, "reviewed": 2,
                                          "total": 3, "unreviewed": 1}
    assert s.undo(SHA) == 8 and s.get(SHA, 8) is None  # newest change in the file first
    assert s.undo(SHA, 7) == 7 and s.get(SHA, 7).decision == "accept"
    assert s.undo(SHA) == 7 and s.get(SHA, 7) is None
    assert s.undo(SHA) is None
    assert s.get("0" * 64, 7) is None  # another file's decisions are apart


@pytest.mark.parametrize("decision,fixes,needle", [
    ("keep", None, "decision must be"),
    ("fix", None, "needs at least one"),
    ("accept", {"left_knee": [1, 2, 2]}, "carries no fixes"),
    ("fix", {"nose": [1, 2, 2]}, "unknown joint"),
    ("fix", {"left_knee": [1, 2, 3]}, "v must be"),
    ("fix", {"left_knee": [1, 2]}, "[x, y, v]"),
    ("fix", "{not json", "not valid JSON"),
])
def test_bad_decisions_are_refused_in_words_and_nothing_is_written(tmp_path, decision, fixes, needle):
    s = ReviewStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        s.decide(SHA, 1, decision, fixes)
    assert s.get(SHA, 1) is None and s.undo(SHA) is None


def test_validate_fixes_accepts_json_text():
    assert validate_fixes('{"right_hip": [3, 4, 1]}') == {"right_hip": (3.0, 4.0, 1)}


def test_decisions_survive_a_restart_in_another_process(tmp_path):
    db = tmp_path / "r.sqlite"
    s = ReviewStore(db)
    s.decide(SHA, 42, "fix", {"left_hip": [1, 2, 2]}, note="moved hip")
    s.close()
    code = textwrap.dedent(f"""
        from review.store import ReviewStore
        d = ReviewStore({str(db)!r}).get({SHA!r}, 42)
        print(d.decision, d.fixes["left_hip"], d.note)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "fix (1.0, 2.0, 2) moved hip"


WRITER = """
import sys
from review.store import ReviewStore
db, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = ReviewStore(db)
for i in range(n):
    s.decide("{sha}", i, "accept" if tag == "a" else "reject", note=tag)  # same ids: contention
    s.decide("{sha}", 10_000 + i if tag == "a" else 20_000 + i, "fix", {{"left_knee": [i, i, 2]}})
print("done")
"""


def test_two_processes_deciding_at_once_lose_nothing(tmp_path):
    db = tmp_path / "r.sqlite"
    ReviewStore(db).close()
    n = 150
    script = WRITER.format(sha=SHA)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(db), tag, str(n)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    s = ReviewStore(db)
    decisions = s.all(SHA)
    assert len(decisions) == 3 * n  # n shared ids + n fixes from each writer
    assert all(decisions[i].decision in ("accept", "reject") for i in range(n))
    assert all(decisions[i].note == ("a" if decisions[i].decision == "accept" else "b") for i in range(n))
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 4 * n  # every change logged
    con.close()
