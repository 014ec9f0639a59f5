"""EmissionsMeasured becomes one `emissions` row per facility and window; twice is once."""

from plumeline.events import Causation, EmissionsMeasured, Envelope, Ledger

T0 = 1_767_225_600_000


def measured(facility: str, hour: int) -> EmissionsMeasured:
    return EmissionsMeasured(
        facility=facility, window_start=T0 + hour * 3_600_000,
        window_end=T0 + (hour + 1) * 3_600_000, emitted_t=400.0, captured_t=360.0,
        stored_t=350.0, vented_t=40.0, capture_efficiency=0.9, readings=28_800,
        first_seq=hour * 3600 + 1, last_seq=(hour + 1) * 3600,
    )


def test_emissions_rows_are_projected_once_however_often_applied(projector):
    envelopes = [
        Envelope.wrap(measured(f, h), time=T0 + (h + 1) * 3_600_000,
                      causation=Causation("readings", 10 + h, 0))
        for h in range(3) for f in ("f1", "f2")
    ]
    records = [(r.seq, r.data) for r in Ledger().seal(envelopes)]
    projector.apply(records)
    projector.rebuild()
    projector.apply(records[:4])
    projector.apply(records)
    rows = projector.store.rows(
        "SELECT facility, toUnixTimestamp64Milli(window_start) AS start, emitted_t,"
        " capture_efficiency, readings FROM emissions FINAL ORDER BY facility, start"
    )
    assert len(rows) == 6
    assert rows[0] == {"facility": "f1", "start": T0, "emitted_t": 400.0,
                       "capture_efficiency": 0.9, "readings": 28_800}
