"""What a first-time user of the Compare tab reads first (issue 31), without a browser: the
models ticked by default and the one marked recommended, the run's progress line, the summary
after Analyse and the wording of the feedback headers (``demo.summary``, ``demo.compare``)."""
from __future__ import annotations

from pathlib import Path

from demo import compare, summary
from demo.compare import ModelRun
from engine.models.weights import default_model


def _rep(start, end, below, knee):
    return {"start_s": start, "end_s": end, "below_parallel": below, "bottom_knee_angle": knee, "depth": 0.1,
            "descent_s": 1.0, "ascent_s": 1.0, "knee_asymmetry": None}


def test_only_the_scorecards_default_and_an_equally_good_second_are_ticked():
    card = summary.scorecard()
    models = compare.available_models()
    default = default_model()
    picked = summary.preselected(models, default, card)
    assert picked[0] == default == card["default"]  # weights/default.txt is the scorecard's best
    rows, held = card["models"], card["held_out_clips"]
    bar = summary.held_out_reps_right(rows[default], held)
    # a second model only when it counts as many held-out clips right as the default
    assert len(picked) <= 2 and all(summary.held_out_reps_right(rows[m], held) >= bar for m in picked)
    worse = [m for m in models if m in rows and summary.held_out_reps_right(rows[m], held) < bar]
    assert not set(worse) & set(picked)
    as_good = [m for m in summary.ranked(models, card) if m != default and m in rows and m not in worse]
    assert picked[1:] == as_good[:1]
    # the default is marked in the list; the list is the shipped models', whatever they are
    assert (f"{default} (recommended)", default) in summary.choices(models, default)
    assert sum("recommended" in text for text, _ in summary.choices(models, default)) == 1
    assert [v for _, v in summary.choices(models, default)] == models
    # a model the scorecard has not scored yet (a new one) is listed after, never ticked
    assert summary.ranked(models + ["not_scored_yet"], card)[-1] == "not_scored_yet"
    assert "not_scored_yet" not in summary.preselected(models + ["not_scored_yet"], default, card)
    # with no scorecard at all (weights of one's own): the default alone
    assert summary.preselected(["dilated", "resnet18"], "resnet18", {}) == ["resnet18"]


def test_a_second_model_is_ticked_only_when_as_good_on_the_held_out_clips():
    held = ["a.mp4", "b.mp4"]
    row = lambda right, pck: {"reps": dict.fromkeys(held, 1), "reps_wrong": dict.fromkeys(held[right:], 1),  # noqa: E731
                              "clip_pck@0.05": pck, "reps_match": 5}
    card = {"held_out_clips": held, "models": {"m1": row(2, 0.9), "m2": row(1, 0.95), "m3": row(2, 0.5)}}
    assert summary.ranked(["m2", "m3", "m1"], card) == ["m1", "m3", "m2"]
    assert summary.preselected(["m1", "m2", "m3"], "m1", card) == ["m1", "m3"]
    card["models"]["m3"] = row(1, 0.5)
    assert summary.preselected(["m1", "m2", "m3"], "m1", card) == ["m1"]


def test_the_progress_line_names_the_model_once_with_stage_and_time_left():
    frac, line = summary.progress_line("mobilenetv2", 0, 2, 0.2, "mobilenetv2: frame 72", 10.0, "mobilenetv2")
    assert frac == 0.1
    assert line.count("mobilenetv2") == 1, line
    assert line.startswith("model 1 of 2 · mobilenetv2 (recommended) · finding the joints, frame 72")
    assert line.endswith("left"), line
    # the estimate made before the run leads at the start; the pace takes over as the run goes
    assert summary.progress_line("m", 0, 1, 0.0, "m: frame 1", 0.5, None, 40.0)[1].endswith("about 40 s left")
    assert summary.progress_line("m", 0, 1, 0.9, "writing annotated video", 90.0, None, 40.0)[1] \
        .endswith("· writing annotated video · about 4 s left")  # 0.1 x 40 + 0.9 x 100 - 90
    one = summary.progress_line("m", 0, 1, 0.5, "m: frame 9", 5.0)[1]
    assert not one.startswith("model 1 of 1") and one.count("m ·") == 1


def test_feedback_headers_and_tables_say_rep_and_processing_speed_and_mark_the_default():
    default = default_model()
    report = {"reps": 1, "view": "side", "fps_processed": 20.04, "feedback": ["1 rep found."],
              "rep_details": [_rep(1.0, 3.0, True, 80.0)]}
    runs = [ModelRun(default, report, None, None, Path(".")), ModelRun("dilated", {**report, "reps": 2}, None, None, Path("."))]
    text = compare.feedback_markdown(runs)
    assert f"**{default} (recommended)** — 1 rep, view: side, analysed at 20 frames/s" in text
    assert "1 reps" not in text and "20.0 frames/s" not in text
    assert "**dilated** — 2 reps" in text
    rows = compare.rep_rows(runs)
    assert rows[0][0] == f"{default} (recommended)" and rows[1][0] == "dilated"


def test_the_summary_leads_with_the_trusted_model_and_says_where_the_models_disagree():
    card = summary.scorecard()
    a = {"reps": 2, "feedback": ["2 reps found.", "Hips stayed above parallel on 2 of 2 reps: sit deeper.",
                                 "Rep 1: hips stayed above parallel."],
         "rep_details": [_rep(2.3, 4.9, False, 95.0), _rep(8.9, 11.7, False, 96.0)]}
    b = {"reps": 2, "feedback": ["2 reps found."],
         "rep_details": [_rep(2.4, 4.8, True, 70.0), _rep(9.0, 11.6, False, 97.0)]}
    text = summary.summary_markdown({"dilated": b, "mobilenetv2": a}, "mobilenetv2", card, 31.0, 28.0)
    lines = text.splitlines()
    assert lines[0] == "### 2 reps — mobilenetv2 (recommended)"
    assert "- Rep 1 (2.3–4.9 s): above parallel (knee 95°)" in lines
    assert "**Hips stayed above parallel on 2 of 2 reps: sit deeper.**" in text
    assert "Other models: dilated: 2 reps." in text
    assert "rep 1's depth: mobilenetv2 above parallel (knee 95°), dilated below parallel (knee 70°)" in text
    assert "rep 2's depth" not in text  # both above parallel
    row = card["models"]["mobilenetv2"]  # the shipped scorecard's row
    assert f"The scorecard trusts **mobilenetv2** (it counted {row['reps_match']} of 11 test clips right" in text
    assert "(#disagreement-plot)" in text
    assert "Took 31 s (estimated 28 s)." in text
    # agreeing models: no warning
    assert "disagree" not in summary.summary_markdown({"mobilenetv2": a, "x": a}, "mobilenetv2", card)
    one = summary.summary_markdown({"m": {**a, "reps": 1, "rep_details": a["rep_details"][:1]}}, None, {})
    assert one.startswith("### 1 rep — m\n")


def test_the_default_heatmap_view_is_each_joint_in_its_colour():
    assert compare.HEATMAP_DEFAULT == "joints" == compare.HEATMAP_CHOICES[0][1]
    assert compare._heatmap_arg("joints") == "joints" and compare._heatmap_arg("all") == "all"
