import numpy as np

from plumeline.actors import DetectorConfig, RobustBaseline, severity_of


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


# -- the likelihood ---------------------------------------------------------------------


def likelihoods(detector, values):
    out = []
    for v in values:
        detector.update(float(v))
        out.append(detector.likelihood)
    return out


def test_likelihood_is_silent_until_calibrated_and_stays_in_the_unit_interval():
    rng = np.random.default_rng(5)
    d = RobustBaseline(DetectorConfig(likelihood=True, calibrate_after=100))
    values = np.concatenate([rng.normal(0, 1, 3000), [50.0] * 20, rng.normal(0, 30, 500)])
    out = likelihoods(d, values)
    assert out[:100] == [0.0] * 100
    assert all(0.0 <= p <= 1.0 for p in out) and max(out) > 0.5


def test_level_shift_scores_once_at_onset():
    rng = np.random.default_rng(6)
    d = RobustBaseline(DetectorConfig(likelihood=True))
    quiet = likelihoods(d, 100 + rng.normal(0, 1, 3000))
    shifted = likelihoods(d, 110 + rng.normal(0, 1, 300))
    onset = max(shifted[:5])
    assert onset > 0.75 and onset > max(quiet[1000:])
    # the episode goes on, but it does not score again unless it gets worse
    assert sum(p > 0.5 for p in shifted[5:]) <= 2


def test_frozen_signal_is_surprising_before_it_counts_as_stuck():
    rng = np.random.default_rng(7)
    d = RobustBaseline(DetectorConfig(likelihood=True, stuck_after=60, stuck_quick=60))
    quiet = likelihoods(d, 20 + rng.normal(0, 1, 3000))
    frozen = likelihoods(d, [20.3] * 40)  # too short to raise "stuck"
    assert d.active is None
    assert max(frozen) > max(quiet[1000:])


def test_value_histogram_stays_bounded_on_a_drifting_signal():
    d = RobustBaseline(DetectorConfig(likelihood=True, max_bins=64))
    rng = np.random.default_rng(8)
    feed(d, np.linspace(0, 1e5, 50_000) + rng.normal(0, 1, 50_000))
    assert len(d.values.counts) <= 64


def test_same_input_same_likelihoods():
    values = np.random.default_rng(9).normal(0, 1, 4000)
    values[2500:2550] += 12
    a = likelihoods(RobustBaseline(DetectorConfig(likelihood=True)), values)
    b = likelihoods(RobustBaseline(DetectorConfig(likelihood=True)), values)
    assert a == b and max(a[2500:2510]) == max(a)


def test_the_likelihood_is_off_unless_asked_for_and_alerts_do_not_depend_on_it():
    values = np.random.default_rng(7).normal(50, 1, 3000)
    values[2000:2100] += 8
    plain, scored = RobustBaseline(DetectorConfig()), RobustBaseline(DetectorConfig(likelihood=True))
    assert feed(plain, values) == feed(scored, values)
    assert plain.values is None and plain.likelihood == 0.0


def drift_decisions(d, values):
    out = []
    for v in values:
        _, decision = d.update(float(v))
        out.append((decision, d.drift_decision))
    return out


def test_a_ramp_too_slow_for_the_baseline_is_a_drift_and_its_end_clears_it():
    rng = np.random.default_rng(3)
    d = RobustBaseline(DetectorConfig())
    t = np.arange(3000)
    wander = 100 + 2 * np.sin(2 * np.pi * t / 900)  # the process moves, slowly
    quiet = drift_decisions(d, wander + rng.normal(0, 1, 3000))
    assert not [x for x in quiet if x != (None, None)]
    ramp = 100 + np.linspace(0, 20, 200) + rng.normal(0, 1, 200)  # +20% over 200 readings
    out = drift_decisions(d, ramp)
    assert [dec for dec, _ in out].count("raise:deviation") == 0  # too slow for the score
    raised = [i for i, (_, drift) in enumerate(out) if drift == "raise"]
    assert len(raised) == 1 and raised[0] < 150 and d.drift_open
    back = drift_decisions(d, 100 + rng.normal(0, 1, 300))
    assert [drift for _, drift in back].count("clear") == 1 and not d.drift_open


def test_a_sensor_that_never_repeated_itself_is_stuck_after_a_few_repeats():
    rng = np.random.default_rng(4)
    noisy = RobustBaseline(DetectorConfig(stuck_quick=10, stuck_after=60))
    feed(noisy, 50 + rng.normal(0, 1, 100))
    out = [dec for _, dec in feed(noisy, [50.5] * 12)]
    assert out.index("raise:stuck") == 10  # the 10th repeat of the first 50.5
    quantised = RobustBaseline(DetectorConfig(stuck_quick=10, stuck_after=60))
    feed(quantised, np.round(50 + rng.normal(0, 1, 100)))  # repeats now and then
    out = [dec for _, dec in feed(quantised, [50.0] * 70)]
    assert out.count("raise:stuck") == 1 and out.index("raise:stuck") >= 55


def test_the_detector_arithmetic_over_arrays_is_the_same_bit_for_bit():
    """infra/bench_vector's numpy form of `update` (the measure of what vectorising
    would gain) must compute what `update` does, or its figures mean nothing."""
    from plumeline.infra.bench.vector import run

    for sensors in (1, 7, 64):
        assert run(sensors, readings=3_000)[2], sensors
