"""The Compare tab: a squat clip through every chosen model, side by side and in step.

Thin: every decision lives in ``demo.compare`` and ``engine``; this file wires components.
"""
from __future__ import annotations

import time
import traceback

import gradio as gr

from engine.fileio import user_message

from . import compare, comparison, estimate, summary, view3d

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


#: After a run: bring the summary (under the Analyse button) into view, its top at the top of
#: the window, so the results are the first thing seen without scrolling.
SHOW_SUMMARY_JS = """
() => { const e = document.getElementById('run-summary'); if (e) e.scrollIntoView({block: 'start'}); }
"""


def _error(e: Exception) -> gr.Error:
    return gr.Error(user_message(e), duration=None)  # words, never Python's text or server paths


def build_compare_tab() -> None:
    """Build the Compare tab's components inside the current ``gr.Tab``."""
    models = compare.available_models()
    default = compare.default_model()
    card = summary.scorecard()
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
            chosen = gr.CheckboxGroup(choices=summary.choices(models, default),
                                      value=summary.preselected(models, default, card), label="Models",
                                      info="Registered models with weights, and MediaPipe as a reference; "
                                           "the recommended one is the scorecard's best on clips no "
                                           "model trained on", elem_id="model-choice")
            stride = gr.Slider(1, 10, value=1, step=1, label="Analyse every k-th frame",
                               info="1 = every frame; more is faster on long clips, with coarser timing",
                               elem_id="stride")
            eta = gr.Markdown("Upload a clip to see how long the analysis will take.", elem_id="estimate")
            run = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
            if not models:
                gr.Markdown("No model is available: ship weights in `weights/` or install MediaPipe.")
            # the results at a glance, where the Analyse button was pressed; the run's one
            # progress bar is drawn here too
            overview = gr.Markdown("The results will appear here after Analyse.", elem_id="run-summary",
                                   min_height=80)
    state = gr.State(None)
    slider = gr.Slider(0, 1, value=0, step=1, label="Frame (scrubs every panel)", interactive=True,
                       elem_id="frame-slider")
    with gr.Row(equal_height=True):
        heatmap = gr.Dropdown(choices=compare.HEATMAP_CHOICES, value=compare.HEATMAP_DEFAULT, label="Heatmap",
                              info="each joint in its colour (scaled to its own peak), the maximum "
                                   "over all six (the confidence scale), or one joint", elem_id="heatmap-choice",
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
    # one table a row, the full width, headers wrapped: no horizontal scroll at 1280 px
    reps = gr.Dataframe(headers=compare.REP_COLUMNS, label="Repetitions", interactive=False, wrap=True,
                        elem_id="rep-table")
    gr.Markdown(compare.REP_NOTE, elem_classes=["summary-note"])
    per_model = gr.Dataframe(headers=comparison.SUMMARY_COLUMNS, label="Per model", interactive=False,
                             wrap=True, elem_id="model-summary")
    gr.Markdown("Reliable frames: the share whose joints the analysis could use. Mean "
                "confidence: over every frame and joint. Analysed: the processing speed (the model "
                "and following the athlete, as if it ran alone). Model time: the model's own work "
                "on its crops; the heatmap models share one pass that decodes the clip and follows "
                "the athlete once (its time is in the summary at the top). From "
                "MediaPipe: the median over frames of the mean joint distance from MediaPipe's, in "
                "leg lengths (hip to knee to ankle).", elem_classes=["summary-note"])
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
        except Exception:  # an estimate must never break the page (and says no Python text)
            traceback.print_exc()
            return "The time could not be estimated for this clip; Analyse still runs it."
        return estimate.describe(info["frames"], info["fps"], names, int(k), costs)[1]

    def panel_images(cmp, position, hm, v, skel):
        return compare.render_panels(cmp.clip, cmp.runs, int(position), heatmap=hm, skeleton=bool(skel),
                                     region=cmp.region if v == "athlete" else None)

    def analyse(path, names, k, hm, v, skel, progress=gr.Progress()):
        # in the list's order (the recommended model first), not the order they were ticked in
        names = sorted(names or [], key=lambda n: models.index(n) if n in models else len(models))
        try:
            info = compare.check_clip(path)
            costs = estimate.cached(path, names)
            est = estimate.describe(info["frames"], info["fps"], names, int(k), costs)[0] if costs else None
            raw = estimate.seconds(costs, info["frames"], int(k)) if costs else None
            t0 = time.perf_counter()

            def tell(i, name, frac, msg):
                total, line = summary.progress_line(name, i, len(names), frac, msg, time.perf_counter() - t0,
                                                    default, est)
                progress(total, desc=line)
            runs = compare.run_models(path, names, progress=tell, stride=int(k))
        except (compare.InputProblem, compare.VideoError) as e:
            raise _error(e)
        except Exception as e:  # one sentence, never Python's text (logged)
            traceback.print_exc()
            raise _error(e) from None
        cmp = comparison.compare(path, runs, time.perf_counter() - t0, est)
        if raw:
            estimate.learn(raw, cmp.seconds, costs)
        for r in runs:  # what each model took per frame: the next estimates go by it
            estimate.learn_run(r.name, len(r.series), r.cost_s)
        first = panel_images(cmp, 0, hm, v, skel)
        img_updates = [gr.update(value=first[i], label=runs[i].name, visible=True) if i < len(runs)
                       else gr.update(value=None, visible=False) for i in range(n_panels)]
        vid_updates = [gr.update(value=str(runs[i].out_dir / "annotated.mp4"), visible=True)
                       if i < len(runs) else gr.update(value=None, visible=False) for i in range(n_panels)]
        n = len(runs[0].series)
        top = summary.summary_markdown({r.name: r.report for r in runs}, default, card, cmp.seconds, est)
        return ([top, cmp, gr.update(maximum=max(1, n - 1), value=0)] + img_updates + vid_updates
                + [compare.angle_chart(runs), comparison.disagreement_chart(cmp), compare.rep_rows(runs),
                   comparison.summary_rows(cmp), compare.feedback_markdown(runs),
                   [f for r in runs for f in r.files]])

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
              [overview, state, slider] + panels + videos + [chart, disagreement, reps, per_model, feedback, files],
              api_visibility="private", concurrency_id="analyse", cancels=[timing],
              show_progress_on=[overview]).success(None, None, None, js=SHOW_SUMMARY_JS)
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
    # custom values pass to compare.chosen_models, which answers an unknown name in words
    api_models = gr.Dropdown(choices=models, multiselect=True, visible=False, allow_custom_value=True)
    api_out = gr.JSON(visible=False)
    api_button = gr.Button(visible=False)

    def analyze_api(path, names):
        """Analyse a clip with the named models (at least one, as in the UI); returns {model: report}."""
        try:
            names = compare.chosen_models(names or [])  # each once, at most MAX_MODELS
            compare.check_clip(path)
            runs = compare.run_models(path, names)
        except (compare.InputProblem, compare.VideoError) as e:
            raise _error(e)
        except Exception as e:  # one sentence, never Python's text (logged)
            traceback.print_exc()
            raise _error(e) from None
        return {r.name: r.report for r in runs}

    api_button.click(analyze_api, [api_clip, api_models], api_out, api_name="analyze",
                     concurrency_id="analyse")
