"""Curation logic behind the Review tab (no Gradio): open, summarise, filter, draw, export.

Flags are data you filter on (``engine.data.coco.Flags``); decisions live in ``review.store``,
beside the annotation file, never in it; an export is a new COCO file written atomically.

Export rule: every non-crowd person is kept unless a reviewer rejected it, so unreviewed
people are KEPT (curation removes what a person has looked at and refused; it does not
require every annotation to be seen). Fixes are applied to the copy: a left/right swap first
(every left/right keypoint pair exchanged), then the joints placed; a fixed annotation that
carries an ``audit`` (``python -m engine.audit``) gets ``audit["review_fix"]`` saying what was
fixed. With
``only_complete``, people who do not have all six joints labelled after their fixes are
dropped too. Crowd annotations are kept as they are (COCO uses them as ignore regions)
unless ``only_complete``.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.data import coco as ecoco
from engine.data.coco import CocoFormatError, CocoPeople, Person
from engine.images import ImageProblem
from engine.joints import JOINTS, NUM_JOINTS, V_UNLABELED

from . import audits as auditlib
from . import drawing
from .drawing import View, read_rgb, render_crop, render_detail, zoom_by_default, zoom_view  # noqa: F401  (API)
from .store import ReviewStore, current_store, file_sha256
from .uploads import UploadError, extract_zip, extract_zip_cached, find_images_root  # noqa: F401


@dataclass
class Dataset:
    """An opened annotation file with its image folder and its content hash."""

    ann_path: Path
    images_dir: Path
    sha: str
    coco: CocoPeople
    by_id: dict[int, Person] = field(default_factory=dict)
    #: the label audit's findings by annotation id (``review.audits``; empty: never audited)
    audits: dict[int, auditlib.PersonAudit] = field(default_factory=dict)
    #: records refused alone, the rest loaded (a value out of range, a malformed audit): one
    #: message each, naming the annotation
    set_aside: list[str] = field(default_factory=list)

    @property
    def people(self) -> list[Person]:
        return self.coco.people

    @property
    def audited(self) -> bool:
        return bool(self.audits)

    def audit(self, person: Person) -> auditlib.PersonAudit | None:
        return self.audits.get(person.ann_id)

    def is_flagged(self, person: Person) -> bool:
        """Flagged for review: any joint unlabelled/occluded/low-confidence, a small box, or a
        finding of the label audit (swapped, far or missed joint)."""
        au = self.audits.get(person.ann_id)
        return person.flags.incomplete or (au is not None and au.flagged)

    @property
    def flagged(self) -> list[Person]:
        """People flagged for review (``is_flagged``)."""
        return [p for p in self.people if self.is_flagged(p)]

    def person(self, ann_id) -> Person:
        try:
            return self.by_id[int(ann_id)]
        except (KeyError, TypeError, ValueError):
            raise CocoFormatError(f"{self.ann_path.name}: no person annotation with id {ann_id!r}") from None

    def image(self, person: Person) -> np.ndarray:
        return read_rgb(self.coco.image_path(person))


_CACHE: dict[tuple, Dataset] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 4


def open_dataset(ann_path: str | os.PathLike, images_dir: str | os.PathLike,
                 store: ReviewStore | None = None) -> Dataset:
    """Load (cached by path, size and mtime) a COCO keypoints file and its image folder.

    Raises CocoFormatError with a plain message for a missing file, wrong JSON, a file that
    is not person keypoints, or images named in the file that are not in the folder.
    """
    if not str(ann_path or "").strip():
        raise CocoFormatError("no annotation file given: type its path or upload a COCO .json")
    if not str(images_dir or "").strip():
        raise CocoFormatError("no image folder given: type its path or upload a zip of images")
    ann_path, images_dir = Path(ann_path).expanduser(), Path(images_dir).expanduser()
    if not ann_path.is_file():
        raise CocoFormatError(f"{ann_path}: file not found")
    if not images_dir.is_dir():
        raise CocoFormatError(f"{images_dir}: image folder not found")
    st = ann_path.stat()
    key = (str(ann_path.resolve()), st.st_size, st.st_mtime_ns, str(images_dir.resolve()))
    with _CACHE_LOCK:
        ds = _CACHE.get(key)
    if ds is None:
        data, aside = ecoco.read_json_setting_aside(ann_path)  # one bad record refused alone
        cp = ecoco.load(ann_path, images_dir, data=data)
        audits = auditlib.read_audits(cp.dataset, ann_path)  # a malformed audit: the file refused
        ds = Dataset(ann_path, images_dir, file_sha256(ann_path), cp,
                     {p.ann_id: p for p in cp.people}, audits, aside)
        with _CACHE_LOCK:
            while len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = ds
        # a write, so only when first opened: later clicks on the same file only read
        (store or current_store()).register_file(ds.sha, ds.ann_path)
    return ds


_IDS_CACHE: dict[tuple, tuple[str, dict[int, Person]]] = {}
_IDS_LOCK = threading.Lock()


def people_index(ann_path: str | os.PathLike) -> tuple[str, dict[int, Person]]:
    """(content sha256, {annotation id: Person}) of an annotation file; no images needed."""
    if not str(ann_path or "").strip():
        raise CocoFormatError("no annotation file given")
    path = Path(ann_path).expanduser()
    if not path.is_file():
        raise CocoFormatError(f"{path}: file not found")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _IDS_LOCK:
        hit = _IDS_CACHE.get(key)
    if hit is None:
        cp = ecoco.load(path, None, data=ecoco.read_json_setting_aside(path)[0])
        hit = (file_sha256(path), {p.ann_id: p for p in cp.people})
        with _IDS_LOCK:
            while len(_IDS_CACHE) >= _CACHE_MAX:
                _IDS_CACHE.pop(next(iter(_IDS_CACHE)))
            _IDS_CACHE[key] = hit
    return hit


def annotation_id(value) -> int:
    """An annotation id from a request: a whole number (or its digits as text) from 0 to
    2**63 - 1; ValueError in words for anything else (``true``, 1.5, 2**64 + 5)."""
    from engine.data.schema import MAX_ID
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 30:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON number sent by a client as 5.0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:27] + "..."
        raise ValueError(f"annotation id must be a whole number from 0 to 2**63 - 1, not {shown}")
    return value


def check_fixes(person: Person, fixes) -> dict[str, tuple[float, float, int]]:
    """Validate ``{joint: (x, y, v)}`` for this person: known joints, COCO ``v``, and labelled
    points inside the image (0 <= x <= width, 0 <= y <= height, when the file gives the size).
    An unlabelling fix (v = 0) is stored as (0, 0, 0), COCO's convention. ValueError in words."""
    from .store import validate_fixes
    out = validate_fixes(fixes)
    w, h = person.image_size
    for name, (x, y, v) in list(out.items()):
        if v == V_UNLABELED:
            out[name] = (0.0, 0.0, 0)
        elif w > 0 and h > 0 and not (0 <= x <= w and 0 <= y <= h):
            raise ValueError(f"fix for {name} at ({x:.1f}, {y:.1f}) lies outside image "
                             f"{person.file_name} ({w}x{h} pixels)")
    return out


def decide(ann_path: str | os.PathLike, ann_id, decision: str, fixes=None, note: str | None = None,
           store: ReviewStore | None = None) -> dict:
    """Record a decision on one person of a file by path: 'accept', 'reject', 'fix' (``fixes``
    as a dict or JSON text, checked by ``check_fixes``; a swap already made is kept), 'swap'
    (exchange the person's left and right: see ``swap``) or 'undo' (restore this person's
    previous decision). Returns the current decision as a dict (``decision`` None: none)."""
    sha, people = people_index(ann_path)
    aid = annotation_id(ann_id)
    if aid not in people:
        raise ValueError(f"{Path(ann_path).name} has no person annotation with id {aid}")
    store = store or current_store()
    if decision == "undo":
        store.undo(sha, aid)
    elif decision == "swap":
        swap(sha, people[aid], fixes, note, store)
    else:
        checked = check_fixes(people[aid], fixes) if decision == "fix" else fixes
        store.decide(sha, aid, decision, checked, note)
    d = store.get(sha, aid)
    return d.as_dict() if d else {"ann_id": aid, "decision": None}


def swap(sha: str, person: Person, fixes=None, note: str | None = None,
         store: ReviewStore | None = None):
    """Fix a suspected left/right swap of ``person`` (of the file with content ``sha``): one
    undoable 'fix' decision with ``swap`` set, keeping ``fixes`` (joints placed, where they end
    up after the swap; None keeps those of a fix already saved). ValueError when it is already
    swapped (undo takes a swap back). Returns the store's Decision."""
    store = store or current_store()
    d = store.get(sha, person.ann_id)
    if d is not None and d.decision == "fix" and d.swap:
        raise ValueError(f"annotation {person.ann_id} is already swapped left/right; "
                         "undo takes the swap back")
    if fixes is None:
        fixes = d.fixes if d is not None and d.decision == "fix" else {}
    return store.decide(sha, person.ann_id, "fix", check_fixes(person, fixes), note, swap=True)


def open_upload(json_path: str | os.PathLike, zip_path: str | os.PathLike | None,
                images_dir: str | os.PathLike | None = None,
                store: ReviewStore | None = None) -> Dataset:
    """An uploaded COCO JSON plus either a zip of images or a typed image folder. The zip is
    extracted safely once per archive content into ``<data dir>/uploads/`` (reused when the
    same archive is loaded again); the JSON is checked first, so a bad one costs no extraction."""
    if zip_path:
        data = ecoco.read_json_setting_aside(json_path)[0]  # as open_dataset reads it
        try:
            folder = extract_zip_cached(zip_path, upload_dir())
        except UploadError as e:
            raise CocoFormatError(str(e)) from None
        images_dir = find_images_root(folder, [im["file_name"] for im in data["images"]])
    return open_dataset(json_path, images_dir, store)


def upload_dir() -> Path:
    """Where uploaded image archives are extracted: ``<data dir>/uploads``."""
    from .store import data_dir
    return data_dir() / "uploads"


# -- summary and chart ----------------------------------------------------------------------
def summary(ds: Dataset, store: ReviewStore | None = None) -> dict:
    """engine.data.coco.summarize figures plus the file and review progress."""
    out = ecoco.summarize(ds.people, crowd=len(ds.coco.crowd))
    if ds.audited:
        out["flagged"] = len(ds.flagged)  # the audit's findings count too
        out["audit"] = auditlib.counts(ds.audits, [p.ann_id for p in ds.people])
    out["annotation_file"] = ds.ann_path.name  # names, never server paths
    out["images_dir"] = ds.images_dir.name
    out["file_sha256"] = ds.sha
    out["progress"] = progress(ds, store)
    out["set_aside"] = list(ds.set_aside)
    return out


def progress(ds: Dataset, store: ReviewStore | None = None) -> dict:
    """Decision counts over the flagged people (reviewed of total)."""
    return (store or current_store()).progress(ds.sha, [p.ann_id for p in ds.flagged])


def progress_line(ds: Dataset, store: ReviewStore | None = None) -> str:
    pr = progress(ds, store)
    return (f"{pr['reviewed']} of {pr['total']} flagged people reviewed "
            f"({pr['accept']} accepted, {pr['reject']} rejected, {pr['fix']} fixed)")


def chart(summ: dict):
    """Plotly figure: people by number of the six joints labelled (0-6), and missing per joint."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "People by joints labelled (of 6)", "Missing (unlabelled) per joint"))
    hist = summ["labeled_count_histogram"]
    fig.add_trace(go.Bar(x=list(range(NUM_JOINTS + 1)), y=hist, text=hist, textposition="auto",
                         marker_color="#4c78a8", name="people"), row=1, col=1)
    miss = summ["missing_per_joint"]
    occ = summ["occluded_per_joint"]
    fig.add_trace(go.Bar(x=list(miss), y=list(miss.values()), name="missing",
                         marker_color="#e45756"), row=1, col=2)
    fig.add_trace(go.Bar(x=list(occ), y=list(occ.values()), name="occluded",
                         marker_color="#f58518"), row=1, col=2)
    fig.update_layout(barmode="group", height=320, margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="joints labelled", dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="people", row=1, col=1)
    return fig


# -- filters --------------------------------------------------------------------------------
FILTERS: dict[str, str] = {
    "flagged": "Flagged (incomplete, or by the audit)",
    "none_labeled": "Nothing labelled (0 of 6)",
    "some_missing": "Some joints missing (1-5 of 6)",
    **{f"missing:{j}": f"Missing {j.replace('_', ' ')}" for j in JOINTS},
    "occluded": "Some joint occluded",
    "complete": "Complete (all six labelled)",
    "small_box": "Box too small",
    "low_confidence": "Low confidence (teacher-made files)",
    "all": "Everyone",
}
STATUSES = ("any", "unreviewed", "reviewed", "accept", "reject", "fix")


def _matches(ds: Dataset, p: Person, name: str) -> bool:
    f = p.flags
    if name.startswith("missing:"):
        joint = name.split(":", 1)[1]
        if joint not in JOINTS:
            raise ValueError(f"unknown joint {joint!r}")
        return joint in f.unlabeled
    preds = {"flagged": ds.is_flagged(p), "none_labeled": f.none_labeled, "some_missing": f.some_missing,
             "occluded": bool(f.occluded), "complete": f.all_labeled, "small_box": f.small_box,
             "low_confidence": bool(f.low_confidence), "all": True}
    if name not in preds:
        raise ValueError(f"unknown filter {name!r}; choose from {', '.join(FILTERS)}")
    return preds[name]


def filter_people(ds: Dataset, name: str = "flagged", status: str = "any",
                  store: ReviewStore | None = None, audit: str = "all") -> list[Person]:
    """People matching the flag filter ``name`` (a key of FILTERS), the audit filter ``audit``
    (a key of ``review.audits.AUDIT_FILTERS``) and the review ``status``, most joints labelled
    first (then by annotation id)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
    auditlib.matches(None, audit or "all")  # an unknown audit filter is refused even when empty
    # most-labelled first: the people a fix can rescue come before those with nothing labelled
    people = sorted((p for p in ds.people if _matches(ds, p, name)
                     and auditlib.matches(ds.audits.get(p.ann_id), audit or "all")),
                    key=lambda p: (-p.flags.n_labeled, p.ann_id))
    if status == "any":
        return people
    decisions = (store or current_store()).all(ds.sha)
    if status == "unreviewed":
        return [p for p in people if p.ann_id not in decisions]
    if status == "reviewed":
        return [p for p in people if p.ann_id in decisions]
    return [p for p in people if p.ann_id in decisions and decisions[p.ann_id].decision == status]


#: People per gallery page.
PAGE_SIZE = 60


def page_of(people: list, page, per_page: int = PAGE_SIZE) -> tuple[list, int, int]:
    """(the people on ``page`` (1-based, clamped to the pages there are), page, pages)."""
    pages = max(1, -(-len(people) // per_page))
    try:
        page = int(page)
    except (TypeError, ValueError):
        page = 1
    page = min(max(page, 1), pages)
    return people[(page - 1) * per_page: page * per_page], page, pages


def next_person(order: list[int], ann_id: int, old_position: int | None) -> int | None:
    """Whom to show after a decision on ``ann_id``: the next one in ``order`` (the filtered
    list, after the decision) when it is still listed, else the one that moved into its old
    place (e.g. the "unreviewed" list just lost it); wraps round to the first; None if empty."""
    if not order:
        return None
    if ann_id in order:
        i = order.index(ann_id) + 1
    else:
        i = old_position if old_position is not None else 0
    return order[i] if i < len(order) else order[0]


def gallery_items(ds: Dataset, people: list[Person], store: ReviewStore | None = None,
                  limit: int = PAGE_SIZE) -> list[tuple[np.ndarray, str]]:
    """(crop, caption) for the first ``limit`` people; captions carry id, labelled count, decision."""
    decisions = (store or current_store()).all(ds.sha)
    items, images = [], {}
    for p in people[:limit]:
        if p.file_name not in images:
            try:
                images[p.file_name] = ds.image(p)
            except (ImageProblem, OSError) as e:  # that one image refused, the rest shown
                images[p.file_name] = e
        d = decisions.get(p.ann_id)
        if isinstance(images[p.file_name], Exception):
            items.append((drawing.unavailable_tile(), f"#{p.ann_id} · image not shown: "
                          + str(images[p.file_name]).split(": ", 1)[-1]))
            continue
        fixes = d.fixes if d else None
        au = ds.audit(p)
        swapped = bool(d and d.swap)
        caption = (f"#{p.ann_id} · {p.flags.n_labeled}/6" + auditlib.caption(au)
                   + (f" · {d.decision}" + (" ⇄" if swapped else "") if d else ""))
        items.append((render_crop(images[p.file_name], p, fixes, swap=swapped,
                                  teacher=au.teacher if au else None), caption))
    return items


def detail(ds: Dataset, person: Person, fixes: dict | None = None, highlight: str | None = None,
           zoom: bool = False, swap: bool = False) -> tuple[np.ndarray, View]:
    """The detail picture of a person (whole image, or ``zoom``ed on the person; labels after
    a left/right ``swap`` and ``fixes``; the audit's teacher skeleton over them when the file
    has one) and its View, which maps a click on the picture back to image pixels."""
    image = ds.image(person)
    view = zoom_view(person, (image.shape[1], image.shape[0]), zoom)
    au = ds.audit(person)
    return render_detail(image, person, fixes, highlight, view, swap,
                         au.teacher if au else None), view


def describe(ds: Dataset, person: Person, store: ReviewStore | None = None) -> str:
    """Markdown describing one person's flags and current decision."""
    f = person.flags
    d = (store or current_store()).get(ds.sha, person.ann_id)
    lines = [f"**Annotation {person.ann_id}** · image `{person.file_name}` · "
             f"box {person.bbox[2]:.0f}×{person.bbox[3]:.0f} px · {f.n_labeled} of 6 labelled"]
    if f.unlabeled:
        lines.append("missing: " + ", ".join(f.unlabeled))
    if f.occluded:
        lines.append("occluded: " + ", ".join(f.occluded))
    if f.low_confidence:
        lines.append("low confidence: " + ", ".join(f.low_confidence))
    if f.small_box:
        lines.append("box too small")
    lines += auditlib.describe(ds.audit(person))
    if d:
        fx = "; ".join(f"{k} → ({x:.0f}, {y:.0f}, v={v})" for k, (x, y, v) in d.fixes.items())
        if d.swap:  # (the flags above describe the labels as the file has them)
            fx = "left/right swapped, so the flags above are those of the file" + (f"; {fx}" if fx else "")
        lines.append(f"decision: **{d.decision}**" + (f" ({fx})" if fx else "")
                     + (f" · note: {d.note}" if d.note else ""))
    else:
        lines.append("decision: none yet")
    return "  \n".join(lines)


# -- export ---------------------------------------------------------------------------------
def labeled_after_fixes(person: Person, fixes: dict | None) -> int:
    """Of the six joints, how many are labelled after ``fixes`` (a left/right swap moves
    labels between joints but never changes this count)."""
    v = person.visibility.copy()
    for name, (_x, _y, vis) in (fixes or {}).items():
        v[JOINTS.index(name)] = int(vis)
    return int((v > V_UNLABELED).sum())


def export_dir() -> Path:
    from .store import data_dir
    return data_dir() / "exports"


def curated_path(ds: Dataset, only_complete: bool) -> Path:
    """Default export path: ``<data dir>/exports/<random>/<file stem>.<sha8>.curated[-complete].json``;
    the folder's name is 128 random bits, new for every export, so that an export served by
    the app cannot be fetched by someone who guesses its name (it was the same for everyone)."""
    import secrets
    tag = "curated-complete" if only_complete else "curated"
    return export_dir() / secrets.token_hex(16) / f"{ds.ann_path.stem}.{ds.sha[:8]}.{tag}.json"


def export_curated(ds: Dataset, out_path: str | os.PathLike | None = None,
                   only_complete: bool = False, store: ReviewStore | None = None) -> tuple[Path, dict]:
    """Write the curated COCO file (see the module docstring for the rule); return (path, report).

    The report lists kept / fixed / dropped counts and ids; the source file is untouched.
    """
    if out_path is None:  # the app's exports folder: within the data dir's budget
        from engine import storage
        storage.make_room(ds.ann_path.stat().st_size, "the curated file")  # DiskBudgetError: OSError
    decisions = (store or current_store()).all(ds.sha)
    keep, fixes, swaps, extra = [], {}, [], {}
    dropped_rejected, dropped_incomplete, kept_unreviewed, kept_accepted = [], [], [], []
    for p in ds.people:
        d = decisions.get(p.ann_id)
        if d is not None and d.decision == "reject":
            dropped_rejected.append(p.ann_id)
            continue
        f = d.fixes if d is not None and d.decision == "fix" else {}
        if only_complete and labeled_after_fixes(p, f) < NUM_JOINTS:
            dropped_incomplete.append(p.ann_id)
            continue
        keep.append(p.ann_id)
        fixed = d is not None and d.decision == "fix"
        if fixed and d.swap:
            swaps.append(p.ann_id)
        if fixed and ds.audit(p) is not None:  # say in the audit what the review changed
            au = ds.coco.coco.anns[p.ann_id]["audit"]
            extra[p.ann_id] = {"audit": {**au, "review_fix": {
                "swapped_left_right": bool(d.swap), "joints_placed": sorted(f),
                "note": d.note, "source_sha256": ds.sha}}}
        if fixed:
            fixes[p.ann_id] = f
        elif d is None:
            kept_unreviewed.append(p.ann_id)
        else:
            kept_accepted.append(p.ann_id)
    crowd_ids = [p.ann_id for p in ds.coco.crowd]
    if not only_complete:
        keep += crowd_ids
    out_path = Path(out_path) if out_path else curated_path(ds, only_complete)
    desc = (f"SquatPose curated from {ds.ann_path.name} (sha256 {ds.sha[:12]}): rejected removed, "
            f"fixes applied{', only people with all six joints labelled' if only_complete else ''}")
    ecoco.export(ds.coco.dataset, keep, out_path, fixes=fixes, description=desc, swaps=swaps,
                 extra=extra)
    report = {
        "source": ds.ann_path.name, "source_sha256": ds.sha, "output": out_path.name,
        "only_complete": bool(only_complete), "written_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "people_in_source": len(ds.people),
        "kept": len(keep) - (0 if only_complete else len(crowd_ids)),
        "kept_unreviewed": len(kept_unreviewed), "kept_accepted": len(kept_accepted),
        "fixed": len(fixes), "dropped": len(dropped_rejected) + len(dropped_incomplete),
        "dropped_rejected": len(dropped_rejected), "dropped_incomplete": len(dropped_incomplete),
        "crowd_kept": 0 if only_complete else len(crowd_ids),
        "annotations_written": len(keep),
        "fixed_ids": sorted(fixes), "swapped_ids": sorted(swaps),
        "rejected_ids": sorted(dropped_rejected),
        "incomplete_ids": sorted(dropped_incomplete),
    }
    return out_path, report
