"""The Compare tab: a squat clip through every chosen model, side by side and in step.

Thin: every decision lives in ``demo.compare`` and ``engine``; this file wires components.
"""
from __future__ import annotations

import time

import gradio as gr

from . import compare, comparison, estimate, view3d

MAX_PANELS = 6
PER_ROW = 3

#: Browser side of "click a chart to show that frame": hooks Plotly's click event on the
#: angle and disagreement charts (each time a chart is drawn) and hands the clicked time to
#: the hidden #jump-time box (the time and a nonce), whose change moves the slider on the server.
JUMP_JS = """
() => {
  const hook = (tries) => {
    let waiting = false;
    for (const id of ['angle-chart', 'disagreement-plot']) {
      const gd = document.querySelector('#' + id + ' .js-plotly-plot');
      if (!gd || !gd.on) { waiting = true; continue; }
      if (gd.__squatposeJump) continue;
      gd.__squatposeJump = true;
      gd.on('plotly_click', (ev) => {
        if (!ev || !ev.points || !ev.points.length) return;
        const box = document.querySelector('#jump-time textarea, #jump-time input');
        if (!box) return;
        box.value = ev.points[0].x + '|' + Date.now();
        box.dispatchEvent(new Event('input', {bubbles: true}));
      });
    }
    if (waiting && tries > 0) setTimeout(() => hook(tries - 1), 250);
  };
  hook(40);
}
"""


def _error(e: Exception) -> gr.Error:
    return gr.Error(str(e), duration=None)


def build_compare_tab() -> None:
    """Build the Compare tab's components inside the current ``gr.Tab``."""
    models = compare.available_models()
    n_panels = max(1, min(MAX_PANELS, len(models)))
    limits = compare.Limits()
    gr.Markdown(
        "Upload a squat clip (or record one), choose models, and compare what each one sees: "
        "heatmaps over the frame, the lower-body skeleton, knee and hip angles, where the models "
        "disagree, repetitions and feedback. Limits: "
        f"{limits.max_mb:.0f} MB, {limits.max_seconds:.0f} s, {limits.max_side} px on the longer side.")
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
            stride = gr.Slider(1, 10, value=1, step=1, label="Analyse every k-th frame",
                               info="1 = every frame; more is faster on long clips, with coarser timing",
                               elem_id="stride")
            eta = gr.Markdown("Upload a clip to see how long the analysis will take.", elem_id="estimate")
            run = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
            if not models:
                gr.Markdown("No model is available: ship weights in `weights/` or install MediaPipe.")
    state = gr.State(None)
    slider = gr.Slider(0, 1, value=0, step=1, label="Frame (scrubs every panel)", interactive=True,
                       elem_id="frame-slider")
    with gr.Row(equal_height=True):
        heatmap = gr.Dropdown(choices=compare.HEATMAP_CHOICES, value="all", label="Heatmap",
                              info="one joint, or the maximum over all six", elem_id="heatmap-choice",
                              scale=2)
        view = gr.Radio(choices=compare.VIEW_CHOICES, value="athlete", label="View",
                        info="the same region in every panel", elem_id="view-choice", scale=2)
        skeleton = gr.Checkbox(value=True, label="Skeleton and knee angles", elem_id="skeleton-switch",
                               scale=1)
        next_btn = gr.Button("Next disagreement ▶", elem_id="next-disagreement", scale=1)
    panels, videos = [], []
    # a grid of PER_ROW columns: every panel the same width however many models are chosen
    # (the last row's unused columns stay as empty space rather than widening the others)
    for first in range(0, n_panels, PER_ROW):
        with gr.Row():
            for k in range(first, first + PER_ROW):
                with gr.Column(min_width=240):
                    if k < n_panels:
                        # the model's name is drawn on the picture (a label badge would hide it)
                        panels.append(gr.Image(label=f"model {k + 1}", visible=False, interactive=False,
                                               elem_id=f"panel-{k}", format="jpeg", show_label=False))
                        videos.append(gr.Video(label="annotated video", visible=False, interactive=False))
    chart = gr.Plot(label="Angles over time (click to show that frame)", elem_id="angle-chart")
    disagreement = gr.Plot(label="Where the models disagree (click to show that frame)",
                           elem_id="disagreement-plot")
    pose3d = gr.Plot(label="3-D joints at this frame (lifted from 2-D, docs/3d.md)", elem_id="pose-3d")
    jump_time = gr.Textbox(visible="hidden", elem_id="jump-time")
    with gr.Row():
        reps = gr.Dataframe(headers=compare.REP_COLUMNS, label="Repetitions", interactive=False, scale=3)
        with gr.Column(scale=2):
            summary = gr.Dataframe(headers=comparison.SUMMARY_COLUMNS, label="Per model", interactive=False,
                                   elem_id="model-summary")
            gr.Markdown("Reliable frames: the share whose joints the analysis could use. Mean "
                        "confidence: over every frame and joint. From MediaPipe: the median over "
                        "frames of the mean joint distance from MediaPipe's, in leg lengths "
                        "(hip to knee to ankle).", elem_classes=["summary-note"])
    feedback = gr.Markdown(elem_id="feedback")
    files = gr.File(label="Downloads: keypoints CSV, report JSON, annotated MP4", file_count="multiple")

    def estimate_time(path, names, k, progress=gr.Progress()):
        names = list(names or [])
        if not path or not names:
            return "Upload a clip and choose models to see how long the analysis will take."
        try:
            info = compare.check_clip(path)
            costs = estimate.time_models(path, names, lambda f, m: progress(f, desc=m))
        except (compare.InputProblem, compare.VideoError) as e:
            return f"⚠️ {e}"
        except Exception as e:  # an estimate must never break the page
            return f"The time could not be estimated ({e})."
        return estimate.describe(info["frames"], info["fps"], names, int(k), costs)[1]

    def panel_images(cmp, position, hm, v, skel):
        return compare.render_panels(cmp.clip, cmp.runs, int(position), heatmap=hm, skeleton=bool(skel),
                                     region=cmp.region if v == "athlete" else None)

    def analyse(path, names, k, hm, v, skel, progress=gr.Progress()):
        names = list(names or [])
        try:
            info = compare.check_clip(path)
            costs = estimate.cached(path, names)
            est = estimate.describe(info["frames"], info["fps"], names, int(k), costs)[0] if costs else None
            raw = estimate.seconds(costs, info["frames"], int(k)) if costs else None
            t0 = time.perf_counter()
            runs = compare.run_models(path, names, progress=lambda f, m: progress(f, desc=m), stride=int(k))
        except (compare.InputProblem, compare.VideoError) as e:
            raise _error(e)
        cmp = comparison.compare(path, runs, time.perf_counter() - t0, est)
        if raw:
            estimate.learn(raw, cmp.seconds)
        first = panel_images(cmp, 0, hm, v, skel)
        img_updates = [gr.update(value=first[i], label=runs[i].name, visible=True) if i < len(runs)
                       else gr.update(value=None, visible=False) for i in range(n_panels)]
        vid_updates = [gr.update(value=str(runs[i].out_dir / "annotated.mp4"), visible=True)
                       if i < len(runs) else gr.update(value=None, visible=False) for i in range(n_panels)]
        n = len(runs[0].series)
        took = f"Took {cmp.seconds:.0f} s" + (f" (estimated {est:.0f} s)." if est is not None else ".")
        return ([cmp, gr.update(maximum=max(1, n - 1), value=0)] + img_updates + vid_updates
                + [compare.angle_chart(runs), comparison.disagreement_chart(cmp), compare.rep_rows(runs),
                   comparison.summary_rows(cmp), compare.feedback_markdown(runs),
                   [f for r in runs for f in r.files], took])

    def scrub(cmp, position, hm, v, skel):
        if not cmp:
            return [gr.update() for _ in range(n_panels)]
        imgs = panel_images(cmp, position, hm, v, skel)
        return [gr.update(value=imgs[i]) if i < len(imgs) else gr.update() for i in range(n_panels)]

    def jump(cmp, text):
        if not cmp or not text:
            return gr.update()
        try:
            t = float(str(text).split("|")[0])
        except ValueError:
            return gr.update()
        return gr.update(value=comparison.position_at(cmp, t))

    def next_disagreement(cmp, position):
        if not cmp:
            return gr.update()
        pos = comparison.next_disagreement_position(cmp, int(position))
        if pos is None:
            gr.Info("The models do not disagree anywhere in this clip (or fewer than two models ran).")
            return gr.update()
        return gr.update(value=pos)

    # one listener for the three triggers, so that a burst of changes times the models once
    timing = gr.on([clip.change, chosen.change, stride.change], estimate_time, [clip, chosen, stride], eta,
                   api_visibility="private", concurrency_id="analyse", trigger_mode="always_last",
                   show_progress="minimal")
    # Analyse drops an estimate still waiting in the queue (the run says how long it took)
    run.click(analyse, [clip, chosen, stride, heatmap, view, skeleton],
              [state, slider] + panels + videos + [chart, disagreement, reps, summary, feedback, files, eta],
              api_visibility="private", concurrency_id="analyse", cancels=[timing])
    settings = [state, slider, heatmap, view, skeleton]
    gr.on([slider.change, heatmap.change, view.change, skeleton.change], scrub, settings, panels,
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    gr.on([state.change, slider.change], lambda cmp, pos: view3d.figure_3d(cmp.runs, int(pos)) if cmp else None,
          [state, slider], pose3d, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    for plot in (chart, disagreement):
        plot.change(None, None, None, js=JUMP_JS)
    jump_time.change(jump, [state, jump_time], slider, api_visibility="private", show_progress="hidden")
    next_btn.click(next_disagreement, [state, slider], slider, api_visibility="private", show_progress="hidden")

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
