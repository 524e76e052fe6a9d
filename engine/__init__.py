"""SquatPose engine: lower-body pose data, heatmap models, training, evaluation and video
analysis. A plain library (never imports Gradio) plus ``python -m engine.<verb>`` CLIs."""

__version__ = "0.1.0"
