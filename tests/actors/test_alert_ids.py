"""Every detector names its alerts with the one `events.alert_id`: from the facility,
sensor, kind and event time of the raise, so replay gives the same ids."""

from __future__ import annotations

import numpy as np

from plumeline.actors import FacilityActor, FacilityConfig
from plumeline.events import AlertRaised, Frame, Manifest, alert_id
from tests.actors.test_facility import T0 as T0_SENSOR
from tests.actors.test_facility import frame, plant
from tests.actors.test_multivariate import SPECS, T0, plant_values


def raises(f: FacilityActor, frames) -> list[tuple[int, AlertRaised]]:
    out = []
    for time, fr in frames:
        out += [(t, e) for t, e in f.observe(fr, time)[0] if isinstance(e, AlertRaised)]
    return out


def test_alert_ids_are_a_function_of_what_raised_them():
    assert alert_id("f1", "s1", "deviation", T0) == alert_id("f1", "s1", "deviation", T0)
    ids = {alert_id("f1", "s1", "deviation", T0), alert_id("f2", "s1", "deviation", T0),
           alert_id("f1", "s2", "deviation", T0), alert_id("f1", "s1", "drift", T0),
           alert_id("f1", "s1", "deviation", T0 + 1)}
    assert len(ids) == 5 and all(len(i) == 20 and int(i, 16) >= 0 for i in ids)


def test_a_sensors_alert_is_named_by_alert_id():
    f, _ = plant()
    steps = [(T0_SENSOR + s * 1000, frame(s, solvent_temp=40.0 + 0.1 * (s % 7)))
             for s in range(100)]
    steps += [(T0_SENSOR + s * 1000, frame(s, solvent_temp=60.0)) for s in range(100, 110)]
    [(time, raised), *_] = raises(f, steps)
    assert raised.alert_id == alert_id("ccs-01", "solvent_temp", raised.kind, time)


def test_the_facility_models_alert_is_named_by_alert_id():
    rng = np.random.default_rng(5)
    f = FacilityActor("ccs-01", FacilityConfig())
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))

    def frames(seconds, broken=False):
        for s in seconds:
            values = plant_values(s, rng, broken)
            yield T0 + s * 1000, Frame(facility="ccs-01", sensors=list(values),
                                       times=[T0 + s * 1000] * 4, values=list(values.values()))

    raises(f, frames(range(0, 2 * 3600)))
    [(time, raised)] = raises(f, frames(range(2 * 3600, 2 * 3600 + 900), broken=True))
    assert raised.kind == "multivariate"
    assert raised.alert_id == alert_id("ccs-01", raised.sensor, "multivariate", time)
