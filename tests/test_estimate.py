"""The Compare tab's time estimate (demo.estimate): the arithmetic from measured costs, and the
correction learnt from the analyses the server ran."""
from __future__ import annotations

import pytest

from demo import estimate


@pytest.fixture(autouse=True)
def fresh_ratios(monkeypatch):
    monkeypatch.setattr(estimate, "_RATIOS", [])


def test_seconds_from_fixed_per_frame_and_decode_costs():
    costs = [estimate.Cost(2.0, 0.1, 0.01), estimate.Cost(1.0, 0.05, 0.01)]
    # every frame: fixed + 100 frames each
    assert estimate.seconds(costs, 100, 1) == pytest.approx(3.0 + 100 * 0.15)
    # every 4th: 25 processed, 75 skipped frames decoded twice (model pass and video) per model
    assert estimate.seconds(costs, 100, 4) == pytest.approx(3.0 + 25 * 0.15 + 2 * 75 * 2 * 0.01)
    est, line = estimate.describe(100, 30.0, ["a", "b"], 4, costs)
    assert est == pytest.approx(estimate.seconds(costs, 100, 4))
    assert "25 frames" in line and "7.5 frames/s of a 30 frames/s clip" in line and "2 models" in line


def test_estimates_are_corrected_by_what_the_latest_runs_took():
    costs = [estimate.Cost(1.0, 0.1, 0.0)]
    assert estimate.correction() is None
    for took in (5.5, 6.0, 50.0):  # an outlier among three: the median holds
        estimate.learn(11.0, took)
    assert estimate.correction() == pytest.approx(6.0 / 11.0)
    est, line = estimate.describe(100, 30.0, ["a"], 1, costs)
    assert est == pytest.approx(6.0) and "times 0.55" in line
    for _ in range(estimate.LEARN_FROM):
        estimate.learn(10.0, 10.0)
    assert estimate.correction() == pytest.approx(1.0)  # only the latest count
