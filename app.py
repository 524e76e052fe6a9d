"""SquatPose web app: the Compare tab (``demo/``) and the Review tab (``review/``).

    python app.py          # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)

Runs unchanged as a Hugging Face Space (see the README's front matter). Only composes tabs and
launches; the work happens in ``engine/`` through the thin UI layers.
"""
from __future__ import annotations

import os

from engine import storage

# Gradio's upload / download cache lives in the data dir too, inside its disk budget (set before
# gradio is imported: it reads GRADIO_TEMP_DIR once).
os.environ.setdefault("GRADIO_TEMP_DIR", str(storage.data_dir() / "gradio"))

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

#: Visitors served at once per heavy event (two CPUs on a free Space: one analysis at a time).
CONCURRENCY = int(os.environ.get("SQUATPOSE_CONCURRENCY", "1"))
#: Largest upload accepted by Gradio's upload route itself: the app's upload limit
#: (``SQUATPOSE_MAX_UPLOAD_MB``, 100 MB; was Gradio's 200 MB), unless SQUATPOSE_MAX_FILE_SIZE says.
MAX_FILE_SIZE = os.environ.get("SQUATPOSE_MAX_FILE_SIZE") or int(storage.max_upload_mb() * 2**20)  # bytes


class UploadQuota:
    """ASGI middleware: an upload to Gradio's own route (``.../upload``) first makes room for
    its size within the data dir's quota (``storage.make_room``, which counts Gradio's cache),
    and is refused with 413 and the quota's message when the room cannot be made, so uploads
    cannot fill the disk behind the app's back."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            import anyio
            headers = dict(scope.get("headers") or [])
            try:
                size = int(headers.get(b"content-length", b"0"))
            except ValueError:
                size = 0
            size = size or int(storage.max_upload_mb() * 2**20)
            try:
                await anyio.to_thread.run_sync(storage.make_room, size, "this upload")
            except storage.DiskBudgetError as e:
                body = str(e).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def build_app() -> gr.Blocks:
    """The whole app as one Blocks."""
    # Gradio deletes the files it cached (uploads, results) once older than the cache age
    # (SQUATPOSE_CACHE_HOURS, 2 h), checking every quarter of an hour (sooner for shorter ages)
    age = max(1, int(storage.cache_age_s()))
    with gr.Blocks(title="SquatPose", delete_cache=(min(age, 900), age)) as app:
        gr.Markdown("# SquatPose\nLower-body pose and squat analysis: hips, knees and ankles "
                    "found by heatmap models, turned into reps, angles and feedback.")
        with gr.Tab("Compare"):
            from demo.ui import build_compare_tab
            build_compare_tab()
        with gr.Tab("Review"):
            try:
                from review.ui import build_review_tab
            except ImportError:
                gr.Markdown("The Review tab is not installed in this build.")
            else:
                build_review_tab()
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=int(os.environ.get("SQUATPOSE_QUEUE", "16")))
    return app


def _head() -> str | None:
    """Page-wide scripts of the tabs (the Review tab's keyboard shortcuts)."""
    try:
        from review.ui import HEAD
    except ImportError:
        return None
    return HEAD


def main() -> None:
    cleaned = storage.clean_start()  # leftovers of interrupted writes, expired files, quota
    print(f"data dir {storage.data_dir()}: {cleaned['used'] / 2**20:.1f} MB of "
          f"{cleaned['quota'] / 2**20:.0f} MB in use ({cleaned['removed']} old entries and "
          f"{cleaned['stale_removed']} stale temporary files removed)", flush=True)
    app = build_app()
    if os.environ.get("SQUATPOSE_WARM_UP", "1") != "0":  # the models a first visitor finds ticked
        import threading

        from demo import compare, summary
        from engine.models.weights import default_model
        ticked = summary.preselected(compare.available_models(), default_model(), summary.scorecard())
        threading.Thread(target=compare.warm_up, args=(ticked,), name="warm-up", daemon=True).start()
    print(f"Gradio's cache: files older than {app.delete_cache[1]} s deleted every "
          f"{app.delete_cache[0]} s", flush=True)
    app.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
               server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
               max_file_size=MAX_FILE_SIZE, head=_head(),
               # only gr.Error's words reach a visitor: never an exception's own text
               show_error=False,
               app_kwargs={"middleware": [Middleware(UploadQuota)]},
               # analysis results and curated exports are handed to Gradio from the data dir
               allowed_paths=[str(storage.area("analyses")), str(storage.area("exports"))])


if __name__ == "__main__":
    main()
