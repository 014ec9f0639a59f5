"""`plumeline forecast-backtest`: simulated history, rolling origins, MASE and coverage."""

import numpy as np

from plumeline.infra.cli.forecast_backtest import hourly_history
from plumeline.infra.cli.main import main


def test_the_hourly_history_is_what_the_balance_closes():
    h = hourly_history(seed=3, days=2, facilities=2)
    ccs, factory = h["ccs-01"], h["factory-02"]
    assert len(ccs["start"]) == 48 and (np.diff(ccs["start"]) == 3_600_000).all()
    assert (ccs["net"] < ccs["emitted"]).all() and (ccs["net"] > 0).all()  # capture stores
    assert np.array_equal(factory["net"], factory["emitted"])  # nothing stored


def test_the_backtest_prints_mase_below_seasonal_naive(capsys, tmp_path):
    out = tmp_path / "backtest.json"
    assert main(["forecast-backtest", "--days", "22", "--warmup", "14",
                 "--json", str(out)]) == 0
    assert "MASE" in capsys.readouterr().out
    import json

    results = json.loads(out.read_text())
    for facility in ("ccs-01", "factory-02"):
        for series in ("emitted", "net"):
            r = results[facility][series]
            assert r["origins"] == 2
            assert r["mase"] < r["mase_seasonal_naive"], (facility, series, r)
            assert 0.5 <= r["coverage"]["95%"] <= 1.0


def test_too_few_days_is_a_clear_error(capsys):
    assert main(["forecast-backtest", "--days", "10", "--warmup", "14"]) == 2
    assert "--days must be at least" in capsys.readouterr().err
