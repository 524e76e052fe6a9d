"""The video road: read a clip (``reader``), find and follow the athlete (``tracking``), run a
heatmap model on the crops (``predict``), smooth the joints over time (``smoothing``), the
MediaPipe reference adapter (``mediapipe_pose``), draw the results (``render``), and the whole
clip -> report pipeline (``pipeline``, behind ``python -m engine.analyze``)."""
