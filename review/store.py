"""Review decisions in SQLite, stored beside (never inside) the COCO annotation files.

One database per app data directory (``SQUATPOSE_DATA_DIR``, default ``~/.squatpose``):
``review.sqlite``. A decision is keyed by the annotation file's content sha256 and the
annotation id, so renaming or moving the file keeps its decisions, and an edited file starts
afresh. Decisions: ``accept``, ``reject`` or ``fix``: a left/right swap (``swap``: every
left/right keypoint pair of the annotation exchanged, for a labeller who took the image's left
for the person's) and/or per-joint ``{joint: (x, y, v)}`` in original-image pixels (``v`` a
COCO visibility flag; where the joint ends up, after any swap), plus a free-text note.

Every change first copies the state it replaces into ``history``; ``undo`` pops the newest
history row and restores it (including "no decision"). The database runs in WAL mode, every
write is one ``BEGIN IMMEDIATE`` transaction and connections wait (``busy_timeout``) for one
another, so two browser tabs (or two processes) deciding at once serialise instead of
corrupting or losing writes.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.fileio import sha256_file
from engine.joints import JOINTS, V_OCCLUDED, V_UNLABELED, V_VISIBLE
from engine.storage import data_dir  # noqa: F401  (the one definition of the data dir)

DECISIONS = ("accept", "reject", "fix")
DB_NAME = "review.sqlite"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    file_sha TEXT NOT NULL,
    ann_id INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'fix')),
    fixes TEXT NOT NULL DEFAULT '{}',
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    swap INTEGER NOT NULL DEFAULT 0,  -- 1: the annotation's left/right pairs are exchanged
    PRIMARY KEY (file_sha, ann_id)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha TEXT NOT NULL,
    ann_id INTEGER NOT NULL,
    prev_decision TEXT,            -- NULL: there was no decision before this change
    prev_fixes TEXT,
    prev_note TEXT,
    prev_created_at REAL,
    prev_updated_at REAL,
    changed_at REAL NOT NULL,
    prev_swap INTEGER
);
CREATE INDEX IF NOT EXISTS history_file ON history (file_sha, ann_id, seq);
CREATE TABLE IF NOT EXISTS files (
    file_sha TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    seen_at REAL NOT NULL
);
"""


#: Columns added after the first release: (table, column, SQL type) added to older databases.
_ADDED_COLUMNS = (("decisions", "swap", "INTEGER NOT NULL DEFAULT 0"), ("history", "prev_swap", "INTEGER"))
_DECISION_COLS = "ann_id, decision, fixes, note, created_at, updated_at, swap"
_STATE_COLS = "decision, fixes, note, created_at, updated_at, swap"
_INSERT = ("INSERT OR REPLACE INTO decisions (file_sha, ann_id, decision, fixes, note, created_at, "
           "updated_at, swap) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def _env_float(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if math.isfinite(v) and v > 0 else default


def max_db_bytes() -> int:
    """Largest the review database may grow (``SQUATPOSE_REVIEW_MAX_MB``, default 256): SQLite's
    ``max_page_count``; past it a write is refused like a full disk (``StoreFull``)."""
    return int(_env_float("SQUATPOSE_REVIEW_MAX_MB", 256) * 2**20)


def max_history() -> int:
    """Undo steps kept (``SQUATPOSE_REVIEW_HISTORY``, default 20,000 changes over all files):
    older history rows are pruned as new ones come; current decisions are never touched."""
    return int(_env_float("SQUATPOSE_REVIEW_HISTORY", 20_000))


#: The write-ahead log is truncated back to this size at each checkpoint (bytes).
WAL_LIMIT_BYTES = 4 * 2**20
#: A checkpoint every this many writes of one process (besides SQLite's own every 1000 pages).
CHECKPOINT_EVERY = 200


class StoreFull(ValueError):
    """The disk (or the review database's size limit) is full: the change was not saved;
    everything already saved can still be read. The message says so in words."""


FULL_MESSAGE = ("The server's storage is full, so this decision was not saved (the decisions "
                "already saved are safe, and browsing and exporting still work). Try again later.")


def _translate(e: Exception) -> Exception:
    """SQLite's "database or disk is full" (and a failing write to disk) as ``StoreFull``."""
    msg = str(e).lower()
    if isinstance(e, sqlite3.OperationalError) and ("full" in msg or "disk i/o" in msg):
        return StoreFull(FULL_MESSAGE)
    return e


#: Longest note kept with a decision (characters); a longer one is refused in words.
MAX_NOTE_CHARS = 2000


def check_note(note) -> str | None:
    """``note`` as text (None stays None: keep the existing note); ValueError when too long."""
    if note is None:
        return None
    note = str(note)
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(note):,} characters; notes are kept to "
                         f"{MAX_NOTE_CHARS:,} characters")
    return note


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content (cached by path, size and mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(p)
    return _SHA_CACHE[key]


def validate_fixes(fixes) -> dict[str, tuple[float, float, int]]:
    """Check ``{joint name: (x, y, v)}``; return it normalised or raise ValueError in words."""
    if fixes is None:
        return {}
    if isinstance(fixes, str):
        fixes = fixes.strip()
        if not fixes:
            return {}
        try:
            fixes = json.loads(fixes)
        except json.JSONDecodeError as e:
            raise ValueError(f"fixes are not valid JSON ({e.msg})") from None
    if not isinstance(fixes, dict):
        raise ValueError('fixes must map joint names to [x, y, v], e.g. {"left_knee": [120, 300, 2]}')
    out = {}
    for name, val in fixes.items():
        if name not in JOINTS:
            raise ValueError(f"unknown joint {name!r}; joints are {', '.join(JOINTS)}")
        if not isinstance(val, (list, tuple)) or len(val) != 3:
            raise ValueError(f"fix for {name} must be [x, y, v]")
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in val):
            raise ValueError(f"fix for {name} must be numbers [x, y, v]")
        x, y, v = float(val[0]), float(val[1]), val[2]
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"fix for {name}: x and y must be finite pixels")
        if v not in (V_UNLABELED, V_OCCLUDED, V_VISIBLE):  # 1.5 or true: refused, not rounded
            raise ValueError(f"fix for {name}: v must be 0 (unlabelled), 1 (occluded) or 2 (visible), "
                             f"not {v!r}")
        out[name] = (x, y, int(v))
    return out


@dataclass
class Decision:
    """The current decision on one annotation."""

    ann_id: int
    decision: str
    fixes: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    note: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    swap: bool = False  # a fix that exchanges the annotation's left/right keypoint pairs

    def as_dict(self) -> dict:
        return {"ann_id": self.ann_id, "decision": self.decision, "swap": self.swap,
                "fixes": {k: list(v) for k, v in self.fixes.items()}, "note": self.note,
                "created_at": self.created_at, "updated_at": self.updated_at}


def _row_to_decision(row) -> Decision:
    fixes = {k: (float(v[0]), float(v[1]), int(v[2])) for k, v in json.loads(row[2]).items()}
    return Decision(int(row[0]), row[1], fixes, row[3], row[4], row[5], bool(row[6]))


class ReviewStore:
    """Decisions for any number of annotation files in one SQLite database."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else data_dir() / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._con().executescript(_SCHEMA)  # IF NOT EXISTS: safe to run from every process
        self._migrate()

    # -- connections -------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                  check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            con.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")  # the WAL shrinks back
            page = con.execute("PRAGMA page_size").fetchone()[0]
            con.execute(f"PRAGMA max_page_count = {max(16, max_db_bytes() // page)}")
            self._local.con = con
        return con

    class _Tx:
        def __init__(self, con):
            self.con = con

        def __enter__(self):
            self.con.execute("BEGIN IMMEDIATE")
            return self.con

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                try:
                    self.con.execute("COMMIT")
                    return False
                except sqlite3.OperationalError as e:
                    exc = e
            if self.con.in_transaction:
                try:
                    self.con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            full = _translate(exc)
            if full is not exc:
                raise full from None
            if exc_type is None:
                raise exc
            return False

    def _tx(self) -> "_Tx":
        self._writes = getattr(self, "_writes", 0) + 1
        if self._writes % CHECKPOINT_EVERY == 0:
            self.checkpoint()
        return self._Tx(self._con())

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database as far as readers allow (PASSIVE: never
        waits for them); once it is all copied the next write restarts the log and SQLite cuts
        the file back to ``WAL_LIMIT_BYTES`` (``journal_size_limit``)."""
        with contextlib.suppress(sqlite3.Error):
            self._con().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _migrate(self) -> None:
        """Add the columns a database made by an older release lacks (one transaction, so two
        processes opening it at once do not both add them); its decisions are kept."""
        con = self._con()
        have = {t: {r[1] for r in con.execute(f"PRAGMA table_info({t})")} for t in ("decisions", "history")}
        if all(c in have[t] for t, c, _ in _ADDED_COLUMNS):
            return
        with self._tx() as con:
            for table, col, sql_type in _ADDED_COLUMNS:
                if col not in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {col} {sql_type}")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- writes ------------------------------------------------------------------------------
    def register_file(self, file_sha: str, path: str | os.PathLike) -> None:
        """Remember where a file with this content was last seen (for people, not for keys);
        skipped when the storage is full (reading a file must keep working)."""
        with contextlib.suppress(StoreFull), self._tx() as con:
            con.execute("INSERT INTO files VALUES (?, ?, ?) ON CONFLICT(file_sha) DO UPDATE SET "
                        "path = excluded.path, seen_at = excluded.seen_at",
                        (file_sha, str(path), time.time()))

    def decide(self, file_sha: str, ann_id: int, decision: str, fixes=None,
               note: str | None = None, swap: bool | None = None) -> Decision:
        """Record (replace) the decision on one annotation; the previous state goes to history.

        ``fix`` needs at least one joint fix or ``swap``; ``accept``/``reject`` carry neither.
        ``note=None`` keeps the existing note; ``swap=None`` keeps the existing swap of a fix
        (so placing a joint on a swapped person keeps the swap).
        """
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        fixes = validate_fixes(fixes)
        note = check_note(note)
        if decision != "fix" and fixes:
            raise ValueError(f"an '{decision}' decision carries no fixes (use 'fix')")
        if decision != "fix" and swap:
            raise ValueError(f"an '{decision}' decision carries no left/right swap (use 'fix')")
        ann_id = int(ann_id)
        now = time.time()
        with self._tx() as con:
            prev = con.execute(f"SELECT {_STATE_COLS} FROM decisions "
                               "WHERE file_sha = ? AND ann_id = ?", (file_sha, ann_id)).fetchone()
            if swap is None:
                swap = bool(decision == "fix" and prev and prev[0] == "fix" and prev[5])
            if decision == "fix" and not fixes and not swap:
                raise ValueError("a 'fix' decision needs at least one joint fix or a left/right swap")
            self._push_history(con, file_sha, ann_id, prev, now)
            created = prev[3] if prev else now
            if note is None:
                note = prev[2] if prev else ""
            con.execute(_INSERT, (file_sha, ann_id, decision,
                                  json.dumps({k: list(v) for k, v in fixes.items()}), str(note),
                                  created, now, int(bool(swap))))
        return Decision(ann_id, decision, fixes, str(note), created, now, bool(swap))

    def set_note(self, file_sha: str, ann_id: int, note: str) -> Decision | None:
        """Change the note of an existing decision (undoable); None when there is no decision."""
        note = check_note(note) or ""
        ann_id = int(ann_id)
        now = time.time()
        with self._tx() as con:
            prev = con.execute(f"SELECT {_STATE_COLS} FROM decisions "
                               "WHERE file_sha = ? AND ann_id = ?", (file_sha, ann_id)).fetchone()
            if prev is None:
                return None
            self._push_history(con, file_sha, ann_id, prev, now)
            con.execute("UPDATE decisions SET note = ?, updated_at = ? WHERE file_sha = ? AND ann_id = ?",
                        (str(note), now, file_sha, ann_id))
        return self.get(file_sha, ann_id)

    @staticmethod
    def _push_history(con, file_sha, ann_id, prev, now) -> None:
        """Save the state a change replaces; the oldest rows past ``max_history()`` go (undo
        then reaches back that many changes; the decisions themselves stay)."""
        cur = con.execute("INSERT INTO history (file_sha, ann_id, prev_decision, prev_fixes, prev_note, "
                          "prev_created_at, prev_updated_at, prev_swap, changed_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (file_sha, ann_id, *(prev if prev else (None,) * 6), now))
        con.execute("DELETE FROM history WHERE seq <= ?", (cur.lastrowid - max_history(),))

    def undo(self, file_sha: str, ann_id: int | None = None) -> int | None:
        """Undo the newest change in this file (or to this annotation): restore the state it
        replaced. Returns the annotation id restored, or None when there is nothing to undo."""
        with self._tx() as con:
            q = "SELECT seq, ann_id, prev_decision, prev_fixes, prev_note, prev_created_at, " \
                "prev_updated_at, prev_swap FROM history WHERE file_sha = ?"
            args: tuple = (file_sha,)
            if ann_id is not None:
                q += " AND ann_id = ?"
                args += (int(ann_id),)
            row = con.execute(q + " ORDER BY seq DESC LIMIT 1", args).fetchone()
            if row is None:
                return None
            seq, aid, dec, fixes, note, created, updated, swap = row
            if dec is None:
                con.execute("DELETE FROM decisions WHERE file_sha = ? AND ann_id = ?", (file_sha, aid))
            else:
                con.execute(_INSERT, (file_sha, aid, dec, fixes, note, created, updated, int(swap or 0)))
            con.execute("DELETE FROM history WHERE seq = ?", (seq,))
        return int(aid)

    # -- reads -------------------------------------------------------------------------------
    def get(self, file_sha: str, ann_id: int) -> Decision | None:
        row = self._con().execute(
            f"SELECT {_DECISION_COLS} FROM decisions "
            "WHERE file_sha = ? AND ann_id = ?", (file_sha, int(ann_id))).fetchone()
        return _row_to_decision(row) if row else None

    def all(self, file_sha: str) -> dict[int, Decision]:
        """Every current decision for a file, by annotation id."""
        rows = self._con().execute(
            f"SELECT {_DECISION_COLS} FROM decisions "
            "WHERE file_sha = ?", (file_sha,)).fetchall()
        return {int(r[0]): _row_to_decision(r) for r in rows}

    def progress(self, file_sha: str, ann_ids=None) -> dict:
        """Counts of decisions (restricted to ``ann_ids`` when given): accept, reject, fix,
        reviewed, total (len(ann_ids) when given) and unreviewed."""
        decisions = self.all(file_sha)
        ids = set(decisions) if ann_ids is None else {int(i) for i in ann_ids}
        out = {d: 0 for d in DECISIONS}
        for i in ids:
            if i in decisions:
                out[decisions[i].decision] += 1
        out["reviewed"] = sum(out[d] for d in DECISIONS)
        out["total"] = len(ids)
        out["unreviewed"] = out["total"] - out["reviewed"]
        return out


_STORES: dict[Path, ReviewStore] = {}
_STORES_LOCK = threading.Lock()


def default_store() -> ReviewStore:
    """The store in the current data directory (one object per path in this process)."""
    path = (data_dir() / DB_NAME).resolve()
    with _STORES_LOCK:
        if path not in _STORES:
            _STORES[path] = ReviewStore(path)
        return _STORES[path]


_CURRENT: contextvars.ContextVar[ReviewStore | None] = contextvars.ContextVar("squatpose_review_store",
                                                                             default=None)


@contextlib.contextmanager
def using_store(store: ReviewStore):
    """Inside this block (this thread / task), ``current_store()`` is ``store``: the Review
    tab sets a public app's visitor's own store around each event (``review.access``)."""
    token = _CURRENT.set(store)
    try:
        yield store
    finally:
        _CURRENT.reset(token)


def current_store() -> ReviewStore:
    """The store of the event being served (``using_store``), else ``default_store()``."""
    return _CURRENT.get() or default_store()
