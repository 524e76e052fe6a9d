"""Issue 19 through the running app (one instance on loopback, driven by gradio_client): every
numbered finding of the attack, refused with a message while the app keeps serving."""
from __future__ import annotations

import time

import pytest
from gradio_client import Client, handle_file

from tests.apphelpers import running_app
from tests.test_hardening_clips import make_raw_stream, make_tiny_clip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("app-hardening")


@pytest.fixture(scope="module")
def app(data_dir):
    env = {"SQUATPOSE_MAX_SECONDS": "15", "SQUATPOSE_MAX_SIDE": "1400"}
    with running_app(data_dir, env) as (url, proc):
        yield Client(url, verbose=False), proc


@pytest.fixture(scope="module")
def raw_stream(tmp_path_factory):
    return make_raw_stream(tmp_path_factory.mktemp("clips") / "long.mp4")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("clips") / "tiny.mp4")


# -- 1. limits on what is decoded ---------------------------------------------------------------
def test_the_app_refuses_the_raw_stream_in_seconds(app, raw_stream):
    client, proc = app
    t0 = time.perf_counter()
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(raw_stream)), ["mediapipe"], api_name="/analyze")
    took = time.perf_counter() - t0
    assert "lasts more than 15 s, over the 15 s limit" in str(err.value), str(err.value)
    assert took < 30, took  # loose: refused at the check, not after analysing 80 s of video
    assert proc.poll() is None


def test_a_one_pixel_video_gets_a_message_not_ffmpeg_text(app, tiny_clip):
    client, _ = app
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(tiny_clip)), ["mediapipe"], api_name="/analyze")
    assert "1x1 pixels, too small" in str(err.value), str(err.value)
    assert "ffmpeg" not in str(err.value).lower()


def test_the_analyze_api_with_no_model_is_refused_as_the_ui_refuses(app, clips_dir):
    client, _ = app
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(clips_dir / "oblique-single.mp4")), [], api_name="/analyze")
    assert "Choose at least one model" in str(err.value), str(err.value)


