import numpy as np

from actors import DetectorConfig, RobustBaseline, severity_of


def feed(detector, values):
    return [detector.update(float(v)) for v in values]


def test_quiet_signal_raises_nothing():
    rng = np.random.default_rng(1)
    d = RobustBaseline(DetectorConfig())
    decisions = [dec for _, dec in feed(d, 100 + rng.normal(0, 1, 5000))]
    assert decisions.count("raise:deviation") == 0


def test_level_shift_raises_after_minimum_duration_then_clears_on_return():
    rng = np.random.default_rng(2)
    d = RobustBaseline(DetectorConfig(raise_after=3, clear_after=5))
    feed(d, 100 + rng.normal(0, 1, 200))
    out = feed(d, [130.0, 130.0])
    assert [dec for _, dec in out] == [None, None]  # two readings are not enough
    assert feed(d, [130.0])[0][1] == "raise:deviation"
    assert d.active == "deviation"
    back = [dec for _, dec in feed(d, 100 + rng.normal(0, 1, 10))]
    assert back.count("clear") == 1 and d.active is None


def test_spike_does_not_drag_the_baseline():
    d = RobustBaseline(DetectorConfig())
    feed(d, [10.0 + 0.1 * (i % 3) for i in range(100)])
    before = d.level
    feed(d, [1e6])
    assert abs(d.level - before) < 1.0


def test_no_score_during_warmup():
    d = RobustBaseline(DetectorConfig(warmup=30))
    out = feed(d, [1.0] * 10 + [1e9] * 5)
    assert all(score == 0.0 and dec is None for score, dec in out)


def test_stuck_sensor_is_found_and_clears_when_it_moves():
    d = RobustBaseline(DetectorConfig(stuck_after=20))
    rng = np.random.default_rng(3)
    feed(d, 50 + rng.normal(0, 1, 100))
    decisions = [dec for _, dec in feed(d, [42.0] * 25)]
    assert "raise:stuck" in decisions
    assert feed(d, [50.5])[0][1] == "clear"


def test_same_input_same_decisions():
    values = np.random.default_rng(4).normal(0, 1, 2000)
    values[900:950] += 12
    a = feed(RobustBaseline(DetectorConfig()), values)
    b = feed(RobustBaseline(DetectorConfig()), values)
    assert a == b


def test_severity_grows_with_score():
    assert [severity_of(s) for s in (6, 8, 12, 24)] == ["warning", "minor", "major", "critical"]
