"""Compare tab: squat clips through the models, side by side."""
