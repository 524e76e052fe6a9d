"""The Compare tab: a squat clip through every chosen model, side by side and in step.

Thin: every decision lives in ``demo.compare`` and ``engine``; this file wires components.
"""
from __future__ import annotations

import gradio as gr

from . import compare

MAX_PANELS = 6
PER_ROW = 3


def _error(e: Exception) -> gr.Error:
    return gr.Error(str(e), duration=None)


def build_compare_tab() -> None:
    """Build the Compare tab's components inside the current ``gr.Tab``."""
    models = compare.available_models()
    n_panels = max(1, min(MAX_PANELS, len(models)))
    limits = compare.Limits()
    gr.Markdown(
        "Upload a squat clip (or record one), choose models, and compare what each one sees: "
        "heatmaps over the frame, the lower-body skeleton, knee and hip angles, repetitions "
        f"and feedback. Limits: {limits.max_mb:.0f} MB, {limits.max_seconds:.0f} s, "
        f"{limits.max_side} px on the longer side.")
    with gr.Row():
        with gr.Column(scale=2):
            clip = gr.Video(label="Squat clip", sources=["upload", "webcam"], elem_id="clip-input")
            examples = compare.example_clips()
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[clip], label="Example clips",
                            elem_id="clip-examples")
        with gr.Column(scale=1):
            chosen = gr.CheckboxGroup(choices=models, value=models[:2], label="Models",
                                      info="Registered models with weights, and MediaPipe as a reference",
                                      elem_id="model-choice")
            run = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
            if not models:
                gr.Markdown("No model is available: ship weights in `weights/` or install MediaPipe.")
    state = gr.State(None)
    slider = gr.Slider(0, 1, value=0, step=1, label="Frame (scrubs every panel)", interactive=True,
                       elem_id="frame-slider")
    panels, videos = [], []
    # a grid of PER_ROW columns: every panel the same width however many models are chosen
    # (the last row's unused columns stay as empty space rather than widening the others)
    for first in range(0, n_panels, PER_ROW):
        with gr.Row():
            for k in range(first, first + PER_ROW):
                with gr.Column(min_width=240):
                    if k < n_panels:
                        panels.append(gr.Image(label=f"model {k + 1}", visible=False, interactive=False,
                                               elem_id=f"panel-{k}", format="jpeg"))
                        videos.append(gr.Video(label="annotated video", visible=False, interactive=False))
    chart = gr.Plot(label="Angles over time")
    with gr.Row():
        reps = gr.Dataframe(headers=compare.REP_COLUMNS, label="Repetitions", interactive=False)
        speed = gr.Dataframe(headers=["model", "frames", "frames/s"], label="Speed", interactive=False)
    feedback = gr.Markdown(elem_id="feedback")
    files = gr.File(label="Downloads: keypoints CSV, report JSON, annotated MP4", file_count="multiple")

    def analyse(path, names, progress=gr.Progress()):
        try:
            compare.check_clip(path)
            runs = compare.run_models(path, list(names or []), progress=lambda f, m: progress(f, desc=m))
        except (compare.InputProblem, compare.VideoError) as e:
            raise _error(e)
        first = compare.render_panels(path, runs, 0)
        img_updates = [gr.update(value=first[k], label=runs[k].name, visible=True) if k < len(runs)
                       else gr.update(value=None, visible=False) for k in range(n_panels)]
        vid_updates = [gr.update(value=str(runs[k].out_dir / "annotated.mp4"), visible=True)
                       if k < len(runs) else gr.update(value=None, visible=False) for k in range(n_panels)]
        n = len(runs[0].series)
        return ([{"clip": path, "runs": runs}, gr.update(maximum=max(1, n - 1), value=0)]
                + img_updates + vid_updates
                + [compare.angle_chart(runs), compare.rep_rows(runs), compare.speed_rows(runs),
                   compare.feedback_markdown(runs), [f for r in runs for f in r.files]])

    def scrub(st, position):
        if not st:
            return [gr.update() for _ in range(n_panels)]
        imgs = compare.render_panels(st["clip"], st["runs"], int(position))
        return [gr.update(value=imgs[k]) if k < len(imgs) else gr.update() for k in range(n_panels)]

    run.click(analyse, [clip, chosen], [state, slider] + panels + videos + [chart, reps, speed, feedback, files],
              api_visibility="private", concurrency_id="analyse")
    slider.change(scrub, [state, slider], panels, api_visibility="private", trigger_mode="always_last",
                  show_progress="hidden")

    # The named API endpoint: a clip and a list of model names in, the reports out.
    api_clip = gr.File(visible=False)
    api_models = gr.Dropdown(choices=models, multiselect=True, visible=False)
    api_out = gr.JSON(visible=False)
    api_button = gr.Button(visible=False)

    def analyze_api(path, names):
        """Analyse a clip with the named models (at least one, as in the UI); returns {model: report}."""
        try:
            compare.check_clip(path)
            runs = compare.run_models(path, list(names or []))
        except (compare.InputProblem, compare.VideoError) as e:
            raise _error(e)
        return {r.name: r.report for r in runs}

    api_button.click(analyze_api, [api_clip, api_models], api_out, api_name="analyze",
                     concurrency_id="analyse")
