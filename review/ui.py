"""The Review tab: browse flagged COCO people, accept / reject / fix them, export a curated set.

Thin: logic lives in ``review.curation`` and ``review.store``; this file wires components.
Named API endpoints: ``review_summary``, ``review_decide``, ``review_export``.
Keyboard (when no text box has focus): a = accept, r = reject, f = save fix, s = swap
left/right, n = next, u = undo. A file written by ``python -m engine.audit`` also shows the
teacher's skeleton, the audit's findings, an audit filter and a legend.
"""
from __future__ import annotations

import inspect
import os
import traceback
from pathlib import Path

import gradio as gr

from engine.data.coco import CocoFormatError
from engine.fileio import user_message
from engine.joints import JOINTS, V_OCCLUDED, V_VISIBLE

from . import access, audits, curation
from . import drawing
from .paths import confine
from .store import current_store, using_store
from .uploads import UploadError

ROOT = Path(__file__).resolve().parents[1]
COCO_MINI = ROOT.parent / "shared" / "data" / "coco-mini"
#: The demo bundle's sample: frames of the bundled squat clip with their people in COCO format
#: (made by scripts/make_demo_bundle.py from the committed clip alone; see assets/demo/README.md).
BUNDLE_COCO = ROOT / "assets" / "demo" / "coco"

#: Keyboard shortcuts; app.py passes this to ``launch(head=...)``.
HEAD = """<script>
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  const ids = {a: 'review-accept', r: 'review-reject', f: 'review-save-fix', s: 'review-swap',
               n: 'review-next', u: 'review-undo'};
  const id = ids[e.key];
  if (!id) return;
  const el = document.getElementById(id);
  if (!el || el.offsetParent === null) return;
  e.preventDefault();
  el.click();
});
</script>"""

EMPTY_HELP = ("**Nothing loaded.** Type the path of a COCO person-keypoints `.json` and its image "
              "folder, or upload the `.json` and a `.zip` of its images, then press **Load**. "
              "(Set `SQUATPOSE_COCO_ANN` and `SQUATPOSE_COCO_IMAGES` to open one at start.)")
VIS = {"visible": V_VISIBLE, "occluded": V_OCCLUDED}


def default_paths() -> tuple[str, str]:
    """Env paths when set (``SQUATPOSE_COCO_ANN`` / ``SQUATPOSE_COCO_IMAGES``), else coco-mini
    in the shared data folder (``SQUATPOSE_SHARED_DATA``, default ``../shared/data``) when it
    is there, else the demo bundle's sample (``assets/demo/coco``), else empty (the tab
    then says what to load)."""
    ann, imgs = os.environ.get("SQUATPOSE_COCO_ANN", ""), os.environ.get("SQUATPOSE_COCO_IMAGES", "")
    if ann or imgs:
        return ann, imgs
    shared = os.environ.get("SQUATPOSE_SHARED_DATA")
    mini = Path(shared) / "coco-mini" if shared else COCO_MINI
    for a, images in ((mini / "annotations" / "person_keypoints_train2017.json", mini / "train2017"),
                      (BUNDLE_COCO / "annotations" / "person_keypoints_demo.json", BUNDLE_COCO / "images")):
        if a.is_file() and images.is_dir():
            return str(a), str(images)
    return "", ""


def _err(e: Exception) -> gr.Error:
    return gr.Error(user_message(e), duration=None)  # words, never Python's text or server paths


def scoped(fn):
    """``fn`` as a Gradio handler that also takes the request, and runs with the store that
    request may use (``review.access.store_for``: a public app's visitor gets their own)."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation="gr.Request"))

    n = len(params) - 1

    def handler(*args, **kwargs):  # Gradio passes the request positionally, after the inputs
        request = args[n] if len(args) > n else kwargs.pop("request", None)
        args = args[:n]
        try:
            store = access.store_for(request)
        except access.NotAllowed as e:
            raise _err(e) from None
        with using_store(store):
            try:
                return fn(*args)
            except gr.Error:
                raise
            except Exception as e:  # never Python's own text: one sentence per kind, logged
                traceback.print_exc()
                raise _err(e) from None

    handler.__name__, handler.__qualname__, handler.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    handler.__signature__ = sig.replace(parameters=params)
    handler.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": "gr.Request"}
    return handler


def _upload_folder() -> list[str]:
    """Gradio's upload folder: an uploaded .json is opened from there (and typed back by the
    tab's own events), so it counts as a review root."""
    from gradio.utils import get_upload_folder
    return [get_upload_folder()]


def _confined(ann, imgs=None) -> tuple[str, str | None]:
    """Typed paths resolved inside the review roots (``review.paths``); empty ones pass (the
    loaders say what is missing); CocoFormatError (``PathRefused``) otherwise."""
    out = []
    for value, what in ((ann, "annotation files"), (imgs, "image folders")):
        out.append(str(confine(value, what, _upload_folder())) if str(value or "").strip() else value)
    return out[0], out[1]


def _open(ann, imgs) -> curation.Dataset:
    try:
        return curation.open_dataset(*_confined(ann, imgs))
    except (CocoFormatError, UploadError, ValueError, OSError) as e:
        raise _err(e) from None


# -- API endpoints (also used by the UI) ------------------------------------------------------
@scoped
def review_summary(annotation_path: str, images_dir: str) -> dict:
    """Flag counts of a COCO keypoints file (person_annotations, none_labeled, all_labeled,
    all_visible, ...) and review progress over its flagged people."""
    return curation.summary(_open(annotation_path, images_dir))


@scoped
def review_decide(annotation_path: str, ann_id: int, decision: str, fixes_json: str = "",
                  note: str = "") -> dict:
    """Record a decision: 'accept', 'reject', 'fix' (fixes_json = {"left_knee": [x, y, v]}),
    'swap' (exchange the annotation's left and right keypoints, with fixes_json placed after
    it) or 'undo' (restore this annotation's previous decision). An empty note keeps the
    existing one. Fixed points must lie inside the image. Returns the current decision."""
    if note is not None and not isinstance(note, str):
        raise _err(ValueError("the note must be text"))
    if fixes_json is not None and not isinstance(fixes_json, (str, dict)):
        raise _err(ValueError('fixes must be JSON text mapping joint names to [x, y, v], e.g. '
                              '{"left_knee": [120, 300, 2]}'))
    try:
        annotation_path, _ = _confined(annotation_path)
        return curation.decide(annotation_path, ann_id, decision, fixes_json or None, note or None)
    except (CocoFormatError, ValueError, TypeError, OSError) as e:
        raise _err(e) from None


@scoped
def review_export(annotation_path: str, images_dir: str, only_complete: bool):
    """Write the curated COCO JSON (rejected removed, fixes applied, unreviewed kept;
    ``only_complete`` keeps only people with all six joints labelled). Returns (file, report)."""
    if only_complete not in (None, True, False):  # "yes" or [1] were taken as true
        raise _err(ValueError("only_complete must be true or false"))
    ds = _open(annotation_path, images_dir)
    try:
        path, report = curation.export_curated(ds, only_complete=bool(only_complete))
    except (OSError, ValueError) as e:
        raise _err(e) from None
    return str(path), report


# -- UI helpers --------------------------------------------------------------------------------
def _pending_md(pending: dict) -> str:
    if not pending:
        return "_No joint placed yet: pick a joint, then click the image._"
    return "Fix to save: " + "; ".join(
        f"{k} → ({x:.0f}, {y:.0f}) {'visible' if v == V_VISIBLE else 'occluded'}"
        for k, (x, y, v) in pending.items())


def _swapped(ds, ann_id) -> bool:
    """Whether the saved decision on this person swaps its left and right."""
    d = current_store().get(ds.sha, ann_id)
    return bool(d and d.decision == "fix" and d.swap)


def _detail(ds, ann_id, pending, joint=None, zoom=False):
    """(picture, View as a list for gr.State) of one person (with its saved swap, if any)."""
    try:
        picture, view = curation.detail(ds, ds.person(ann_id), pending, joint, bool(zoom),
                                        _swapped(ds, ann_id))
    except (ValueError, OSError) as e:  # the person's image is refused (damaged, too large)
        raise _err(e) from None
    return picture, [view.x0, view.y0, view.width, view.height, view.scale]


def _filtered(ds, flt, status, au):
    try:
        return curation.filter_people(ds, flt or "flagged", status or "any", audit=au or "all")
    except ValueError as e:
        raise _err(e) from None


def _gallery(ds, flt, status, page, people=None, au="all"):
    """(gallery items, their ids, "N people match" line, page) for one page of the filter."""
    if people is None:
        people = _filtered(ds, flt, status, au)
    chunk, page, pages = curation.page_of(people, page)
    items = curation.gallery_items(ds, chunk)
    count = f"{len(people)} people match"
    if pages > 1:
        first = (page - 1) * curation.PAGE_SIZE + 1
        count += f" · page {page} of {pages} (people {first}-{first + len(chunk) - 1})"
    return items, [p.ann_id for p in chunk], count, page


def _first_missing(ds, ann_id) -> str:
    p = ds.person(ann_id)
    return p.flags.unlabeled[0] if p.flags.unlabeled else JOINTS[0]


def build_review_tab(blocks: gr.Blocks | None = None) -> None:
    """Build the Review tab's components inside the current ``gr.Tab``."""
    ann0, imgs0 = default_paths()
    gr.Markdown("Browse COCO people whose six lower-body joints are incompletely annotated (or "
                "that the label audit, `python -m engine.audit`, flagged), accept / reject / fix "
                "them, and export a curated training set. Decisions are stored beside the file "
                "(never written into it). Keys: **a** accept, **r** reject, **f** save fix, "
                "**s** swap left/right, **n** next, **u** undo.")
    public = access.public()
    with gr.Row(visible=public):  # a public app: visitors curate for themselves (review.access)
        role_md = gr.Markdown(access.role_line(None) if public else "", elem_id="review-role")
        token_in = gr.Textbox(label="Maintainer token", type="password", scale=1, elem_id="review-token")
        sign_btn = gr.Button("Sign in as maintainer", scale=1, elem_id="review-sign-in")
        if public and os.environ.get("OAUTH_CLIENT_ID"):  # a Space with hf_oauth: true
            gr.LoginButton(scale=1)
    with gr.Row():
        ann_in = gr.Textbox(ann0, label="COCO keypoints .json (path)", elem_id="review-ann", scale=3)
        img_in = gr.Textbox(imgs0, label="Image folder (path)", elem_id="review-images", scale=3)
        json_up = gr.File(label="…or upload .json", file_types=[".json"], scale=1, height=140,
                          elem_id="review-json-upload")
        zip_up = gr.File(label="…and a .zip of images", file_types=[".zip"], scale=1, height=140,
                         elem_id="review-zip-upload")
        load_btn = gr.Button("Load", variant="primary", elem_id="review-load", scale=1)
    summary_md = gr.Markdown(EMPTY_HELP if not ann0 else "", elem_id="review-summary")
    plot = gr.Plot(label="Joints labelled per person", elem_id="review-chart")
    progress_md = gr.Markdown("", elem_id="review-progress")
    with gr.Row():
        # wide enough for the longest filter's name (no truncated text)
        flt = gr.Dropdown([(v, k) for k, v in curation.FILTERS.items()], value="flagged",
                          label="Filter (flags)", elem_id="review-filter", scale=2, min_width=320)
        status = gr.Dropdown(list(curation.STATUSES), value="any", label="Review status",
                             elem_id="review-status")
        audit_flt = gr.Dropdown([(v, k) for k, v in audits.AUDIT_FILTERS.items()], value="all",
                                label="Label audit", visible=False, elem_id="review-audit-filter")
        page_in = gr.Number(1, label=f"Page ({curation.PAGE_SIZE} people each)", precision=0,
                            minimum=1, elem_id="review-page")
    count_md = gr.Markdown("")
    gallery = gr.Gallery(label="People (click one)", columns=8, height=330, allow_preview=False,
                         object_fit="contain", format="jpeg", elem_id="review-gallery")
    with gr.Row():
        with gr.Column(scale=3):
            detail = gr.Image(label="Detail: click to place the chosen joint", interactive=False,
                              type="numpy", format="jpeg", elem_id="review-detail")
        with gr.Column(scale=2):
            info = gr.Markdown("_Select a person in the gallery._", elem_id="review-info")
            legend = gr.Image(drawing.legend_image(), label="Key: the label and the audit's teacher",
                              interactive=False, visible=False, format="png", height=110,
                              buttons=[], elem_id="review-legend")
            zoom = gr.Checkbox(False, label="Zoom on the person (on by default for a small person; "
                               "clicks still land on image pixels)", elem_id="review-zoom")
            joint = gr.Dropdown(list(JOINTS), value=JOINTS[0], label="Joint to place",
                                elem_id="review-joint")
            gr.Markdown("<span style='color:#e6c800'>◯</span> Yellow ring: the joint chosen in "
                        "'Joint to place', where it is now; click the picture to move it there.",
                        elem_id="review-ring-legend")
            vis = gr.Radio(list(VIS), value="visible", label="Placed joint is", elem_id="review-vis")
            pending_md = gr.Markdown(_pending_md({}), elem_id="review-pending")
            with gr.Row(equal_height=True):
                note = gr.Textbox(label="Note (saved with the decision)", elem_id="review-note",
                                  scale=4)
                note_btn = gr.Button("Save note", elem_id="review-save-note", scale=1)
            with gr.Row():
                accept_btn = gr.Button("Accept (a)", variant="primary", elem_id="review-accept")
                reject_btn = gr.Button("Reject (r)", variant="stop", elem_id="review-reject")
                fix_btn = gr.Button("Save fix (f)", elem_id="review-save-fix")
                swap_btn = gr.Button("Swap left/right (s)", elem_id="review-swap")
            with gr.Row():
                clear_btn = gr.Button("Clear placed joints", elem_id="review-clear")
                next_btn = gr.Button("Next (n)", elem_id="review-next")
                undo_btn = gr.Button("Undo (u)", elem_id="review-undo")
    with gr.Row():
        only_complete = gr.Checkbox(False, label="Only people with all six joints labelled (after fixes)",
                                    elem_id="review-only-complete")
        export_btn = gr.Button("Export curated COCO JSON", variant="primary", elem_id="review-export")
    with gr.Row():
        export_file = gr.File(label="Curated file", elem_id="review-export-file")
        report = gr.JSON(label="Export report (unreviewed people are kept unless rejected)",
                         elem_id="review-report")

    ids = gr.State([])
    current = gr.State(None)
    pending = gr.State({})
    view = gr.State([0, 0, 0, 0, 1.0])  # what the detail picture shows: x0, y0, w, h, scale

    # ---- handlers ----
    def load(ann, imgs, jup, zup, f, s, pg, au):
        try:
            if jup:
                ds = curation.open_upload(jup, zup, _confined("", imgs)[1] if not zup else None)
            elif zup:
                raise CocoFormatError("a zip of images needs its COCO .json: upload both")
            else:
                ds = curation.open_dataset(*_confined(ann, imgs))
        except (CocoFormatError, UploadError, ValueError, OSError) as e:
            raise _err(e) from None
        summ = curation.summary(ds)
        au = (au or "all") if ds.audited else "all"
        items, new_ids, count, pg = _gallery(ds, f, s, pg, au=au)
        md = (f"**{summ['person_annotations']}** people ({summ['crowd']} crowd regions aside): "
              f"{summ['none_labeled']} with nothing labelled, {summ['some_missing']} with some joints "
              f"missing, {summ['all_labeled']} complete ({summ['all_visible']} all visible), "
              f"{summ['any_occluded']} with an occluded joint, {summ['small_box']} small boxes, "
              f"{summ['low_confidence']} low-confidence · **{summ['flagged']} flagged**")
        if ds.set_aside:  # records refused alone (issue 30): the rest is loaded
            shown = "; ".join(ds.set_aside[:5]) + (f"; and {len(ds.set_aside) - 5} more"
                                                   if len(ds.set_aside) > 5 else "")
            md += f"  \n**{len(ds.set_aside)} record(s) set aside** (refused, the rest loaded): {shown}"
        if ds.audited:
            a = summ["audit"]
            teacher = (ds.coco.dataset.get("audit_info") or {}).get("teacher", "a teacher")
            md += (f"  \nLabel audit by {str(teacher).split(':')[0]}: {a['all'] - a['not_audited']} "
                   f"audited · {a['swapped']} left/right swapped · {a['far_joint']} with a far joint · "
                   f"{a['missed_joint']} with a missed joint · {a['skipped']} skipped · "
                   f"{a['none']} nothing flagged")
        return (str(ds.ann_path), str(ds.images_dir), md, curation.chart(summ), items, new_ids,
                count, curation.progress_line(ds), None, {}, "_Select a person in the gallery._",
                _pending_md({}), None, pg, gr.update(value=au, visible=ds.audited),
                gr.update(visible=ds.audited))

    load_outs = [ann_in, img_in, summary_md, plot, gallery, ids, count_md, progress_md, current,
                 pending, info, pending_md, detail, page_in, audit_flt, legend]
    # Progress and error badges go on one small component per event (show_progress_on), so a
    # refused input leaves the rest of the tab readable and clickable.
    load_btn.click(scoped(load), [ann_in, img_in, json_up, zip_up, flt, status, page_in, audit_flt], load_outs,
                   api_visibility="private", show_progress_on=summary_md)

    def refilter(ann, imgs, f, s, pg, au):
        if not str(ann).strip():
            return [], [], "", 1
        return _gallery(_open(ann, imgs), f, s, pg, au=au)

    def first_page(ann, imgs, f, s, au):
        return refilter(ann, imgs, f, s, 1, au)

    for dd in (flt, status, audit_flt):  # a new filter starts at its first page
        dd.change(scoped(first_page), [ann_in, img_in, flt, status, audit_flt], [gallery, ids, count_md, page_in],
                  api_visibility="private", show_progress_on=count_md)
    page_in.submit(scoped(refilter), [ann_in, img_in, flt, status, page_in, audit_flt],
                   [gallery, ids, count_md, page_in], api_visibility="private", show_progress_on=count_md)

    def show(ds, aid, zm, fresh=True):
        """Outputs for showing person ``aid`` (None: nothing selected). A ``fresh`` person
        starts zoomed when small (``curation.zoom_by_default``); else the zoom stays as set."""
        if aid is None:
            return (None, {}, None, "_Select a person in the gallery._", _pending_md({}), "",
                    gr.update(), gr.update(), gr.update())
        d = current_store().get(ds.sha, aid)
        fixes = dict(d.fixes) if d else {}  # (a swap, if any, is read from the store by _detail)
        j = _first_missing(ds, aid)
        person = ds.person(aid)
        if fresh:
            zm = curation.zoom_by_default(person, person.image_size)
        picture, v = _detail(ds, aid, fixes, j, zm)
        return (aid, fixes, picture, curation.describe(ds, person), _pending_md(fixes),
                d.note if d else "", j, v, bool(zm))

    show_outs = [current, pending, detail, info, pending_md, note, joint, view, zoom]

    def select(ann, imgs, id_list, zm, evt: gr.SelectData):
        ds = _open(ann, imgs)
        i = evt.index if isinstance(evt.index, int) else evt.index[0]
        if not id_list or i is None or i >= len(id_list):
            raise gr.Error("that person is no longer in the list; change the filter to refresh it")
        return show(ds, id_list[i], zm)

    gallery.select(scoped(select), [ann_in, img_in, ids, zoom], show_outs, api_visibility="private",
                   show_progress_on=info)

    def place(ann, imgs, aid, pend, j, v, zm, vw, evt: gr.SelectData):
        if aid is None:
            raise gr.Error("select a person in the gallery first")
        ds = _open(ann, imgs)
        x, y = curation.View(*vw).to_image(float(evt.index[0]), float(evt.index[1]))
        pend = dict(pend or {})
        pend[j] = (round(x, 1), round(y, 1), VIS.get(v, V_VISIBLE))
        try:
            pend = curation.check_fixes(ds.person(aid), pend)
        except ValueError as e:
            raise _err(e) from None
        picture, vw = _detail(ds, aid, pend, j, zm)
        return pend, picture, _pending_md(pend), vw

    detail.select(scoped(place), [ann_in, img_in, current, pending, joint, vis, zoom, view],
                  [pending, detail, pending_md, view], api_visibility="private",
                  show_progress_on=pending_md)

    def redraw(ann, imgs, aid, pend, j, zm):
        if aid is None:
            return gr.update(), gr.update()
        return _detail(_open(ann, imgs), aid, pend, j, zm)

    # the zoom box redraws when the user ticks it (``input``), not when a new person sets it
    for trigger in (joint.change, zoom.input):
        trigger(scoped(redraw), [ann_in, img_in, current, pending, joint, zoom], [detail, view],
                       api_visibility="private", show_progress_on=pending_md)

    def clear(ann, imgs, aid, j, zm):
        if aid is None:
            return {}, gr.update(), _pending_md({}), gr.update()
        picture, vw = _detail(_open(ann, imgs), aid, {}, j, zm)
        return {}, picture, _pending_md({}), vw

    clear_btn.click(scoped(clear), [ann_in, img_in, current, joint, zoom], [pending, detail, pending_md, view],
                    api_visibility="private", show_progress_on=pending_md)

    def after_change(ds, f, s, pg, id_list, aid, advance, zm, au):
        """Refresh gallery + progress; show the next person when ``advance`` (turning the page
        when needed), else ``aid``."""
        people = _filtered(ds, f, s, au)
        target = aid
        if advance and aid is not None:
            old = list(id_list or [])
            _, pg, _ = curation.page_of(people, pg)
            old_pos = (pg - 1) * curation.PAGE_SIZE + old.index(aid) if aid in old else None
            order = [p.ann_id for p in people]
            target = curation.next_person(order, aid, old_pos)
            if target is not None:
                pg = order.index(target) // curation.PAGE_SIZE + 1
        items, new_ids, count, pg = _gallery(ds, f, s, pg, people, au)
        # the gallery's highlight follows the person shown (after Accept: the next one)
        shown = gr.Gallery(value=items, selected_index=new_ids.index(target) if target in new_ids else None)
        return (shown, new_ids, count, pg, curation.progress_line(ds), *show(ds, target, zm, target != aid))

    change_outs = [gallery, ids, count_md, page_in, progress_md, *show_outs]

    def decide(kind):
        def fn(ann, imgs, f, s, pg, id_list, aid, pend, nt, zm, au):
            if aid is None:
                raise gr.Error("select a person in the gallery first")
            ds = _open(ann, imgs)
            if kind == "fix" and not pend:
                raise gr.Error("place at least one joint (pick it, then click the image) before saving a fix")
            try:
                fixes = curation.check_fixes(ds.person(aid), pend) if kind == "fix" else None
                current_store().decide(ds.sha, aid, kind, fixes, nt or "")
            except ValueError as e:
                raise _err(e) from None
            return after_change(ds, f, s, pg, id_list, aid, True, zm, au)
        return fn

    common = [ann_in, img_in, flt, status, page_in, ids, current, pending, note, zoom, audit_flt]
    for btn, kind in ((accept_btn, "accept"), (reject_btn, "reject"), (fix_btn, "fix")):
        btn.click(scoped(decide(kind)), common, change_outs, api_visibility="private",
                  show_progress_on=progress_md)

    def swap(ann, imgs, f, s, pg, id_list, aid, pend, nt, zm, au):
        """Fix a suspected left/right swap (keeping the joints placed); stay on the person."""
        if aid is None:
            raise gr.Error("select a person in the gallery first")
        ds = _open(ann, imgs)
        try:
            curation.swap(ds.sha, ds.person(aid), pend or {}, nt or "")
        except ValueError as e:
            raise _err(e) from None
        return after_change(ds, f, s, pg, id_list, aid, False, zm, au)

    swap_btn.click(scoped(swap), common, change_outs, api_visibility="private", show_progress_on=progress_md)

    def next_person(ann, imgs, f, s, pg, id_list, aid, pend, nt, zm, au):
        ds = _open(ann, imgs)
        if aid is None:
            return after_change(ds, f, s, pg, id_list, id_list[0] if id_list else None, False, zm, au)
        return after_change(ds, f, s, pg, id_list, aid, True, zm, au)

    next_btn.click(scoped(next_person), common, change_outs, api_visibility="private",
                   show_progress_on=progress_md)

    def undo(ann, imgs, f, s, pg, id_list, aid, pend, nt, zm, au):
        ds = _open(ann, imgs)
        try:
            restored = current_store().undo(ds.sha)
        except ValueError as e:  # StoreFull
            raise _err(e) from None
        if restored is None:
            gr.Info("nothing to undo")
        return after_change(ds, f, s, pg, id_list, restored if restored is not None else aid, False,
                            zm, au)

    undo_btn.click(scoped(undo), common, change_outs, api_visibility="private",
                   show_progress_on=progress_md)

    def save_note(ann, imgs, aid, nt):
        if aid is None:
            raise gr.Error("select a person in the gallery first")
        ds = _open(ann, imgs)
        try:
            saved = current_store().set_note(ds.sha, aid, nt or "")
        except ValueError as e:  # too long, or StoreFull
            raise _err(e) from None
        if saved is None:
            raise gr.Error("this person has no decision yet: accept, reject or fix them and the "
                           "note is saved with that decision")
        gr.Info("note saved")
        return curation.describe(ds, ds.person(aid))

    note_btn.click(scoped(save_note), [ann_in, img_in, current, note], info, api_visibility="private",
                   show_progress_on=info)

    def sign_in(token, request: gr.Request):
        try:
            access.sign_in(request, token)
        except access.NotAllowed as e:
            raise _err(e) from None
        gr.Info("signed in as maintainer: press Load to see the shared decisions")
        return access.role_line(request), ""

    sign_btn.click(sign_in, [token_in], [role_md, token_in], api_visibility="private",
                   show_progress_on=role_md)
    if public:
        def role(request: gr.Request):
            return access.role_line(request)

        (blocks or gr.context.Context.root_block).load(role, None, role_md, api_visibility="private")

    export_btn.click(review_export, [ann_in, img_in, only_complete], [export_file, report],
                     api_name="review_export")
    gr.api(review_summary, api_name="review_summary")
    gr.api(review_decide, api_name="review_decide")

    blocks = blocks or gr.context.Context.root_block
    if blocks is not None and ann0:
        def initial(ann, imgs, f, s, au):
            try:
                return load(ann, imgs, None, None, f, s, 1, au)
            except gr.Error as e:
                return (ann, imgs, f"**Could not open the default data:** {e.message}",
                        *([gr.update()] * (len(load_outs) - 3)))

        blocks.load(scoped(initial), [ann_in, img_in, flt, status, audit_flt], load_outs, api_visibility="private",
                    show_progress_on=summary_md)
