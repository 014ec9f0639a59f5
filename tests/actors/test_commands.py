"""Operator commands as a facility's input: validated, recorded, and replayable."""

from plumeline.actors import AlertBook, FacilityActor, FacilityConfig
from plumeline.events import (
    AcknowledgeAlert,
    AlertAcknowledged,
    AlertCleared,
    AlertRaised,
    AlertUpdated,
    ApproveRecommendation,
    ClearAlert,
    CommandRejected,
    Frame,
    Manifest,
    RecommendationApproved,
    RecommendationIssued,
    RejectRecommendation,
    SensorSpec,
    SilenceSensor,
    SilenceStarted,
)

T0 = 1_700_000_000_000
SPECS = [
    SensorSpec(sensor="vent_co2", quantity="CO2 flow", unit="t/h", role="vented"),
    SensorSpec(sensor="solvent_temp", quantity="temperature", unit="degC"),
]


def plant(escalate_after_ms=15 * 60_000):
    f = FacilityActor("ccs-01", FacilityConfig(escalate_after_ms=escalate_after_ms))
    f.register(Manifest(facility="ccs-01", name="CCS 1", kind="ccs", sensors=SPECS))
    for step in range(100):
        f.observe(frame(step, solvent_temp=40.0 + 0.1 * (step % 7),
                        vent_co2=10.0 + 0.01 * (step % 5)), T0)
    return f


def frame(step, **values):
    return Frame(facility="ccs-01", sensors=list(values), times=[T0 + step * 1000] * len(values),
                 values=list(values.values()))


def run(f, steps, **values):
    out = []
    for step in steps:
        out += [e for _, e in f.observe(frame(step, **values), T0 + step * 1000)[0]]
    return out


def overheat(f, steps=range(100, 110)):
    raised = [e for e in run(f, steps, solvent_temp=60.0) if isinstance(e, AlertRaised)]
    assert len(raised) == 1
    return raised[0]


def at(step):
    return T0 + step * 1000


def test_acknowledge_records_the_user_once_and_refuses_the_second():
    f = plant()
    alert = overheat(f)
    [(t, ack)] = f.command(AcknowledgeAlert(facility="ccs-01", alert_id=alert.alert_id,
                                            user="ada", note="on it", time=at(111)))
    assert t == at(111)
    assert isinstance(ack, AlertAcknowledged) and (ack.user, ack.note) == ("ada", "on it")
    [(_, again)] = f.command(AcknowledgeAlert(facility="ccs-01", alert_id=alert.alert_id,
                                              user="bob", time=at(112)))
    assert isinstance(again, CommandRejected) and again.user == "bob"
    assert "acknowledged already by ada" in again.reason


def test_commands_on_unknown_ids_are_rejected_with_a_reason():
    f = plant()
    for command in [
        AcknowledgeAlert(facility="ccs-01", alert_id="nope", user="ada", time=at(1)),
        ClearAlert(facility="ccs-01", alert_id="nope", user="ada", time=at(1)),
        ApproveRecommendation(facility="ccs-01", recommendation_id="nope", user="ada", time=1),
        SilenceSensor(facility="ccs-01", sensor="ghost", until_ms=at(9), user="ada", time=1),
    ]:
        [(_, event)] = f.command(command)
        assert isinstance(event, CommandRejected) and event.reason.startswith("no ")


def test_an_operator_clears_an_alert_and_the_detector_does_not_clear_it_again():
    f = plant()
    alert = overheat(f)
    [(_, cleared)] = f.command(ClearAlert(facility="ccs-01", alert_id=alert.alert_id,
                                          user="ada", time=at(111)))
    assert isinstance(cleared, AlertCleared) and cleared.by == "ada" and cleared.value == 60.0
    after = run(f, range(112, 160), solvent_temp=40.2)
    assert not [e for e in after if isinstance(e, AlertCleared)]
    [(_, late)] = f.command(AcknowledgeAlert(facility="ccs-01", alert_id=alert.alert_id,
                                             user="bob", time=at(161)))
    assert isinstance(late, CommandRejected) and "cleared already" in late.reason


def test_a_silenced_sensor_raises_nothing_until_the_silence_ends():
    f = plant()
    [(_, silence)] = f.command(SilenceSensor(facility="ccs-01", sensor="solvent_temp",
                                             until_ms=at(130), reason="maintenance",
                                             user="ada", time=at(99)))
    assert isinstance(silence, SilenceStarted)
    assert not [e for e in run(f, range(100, 110), solvent_temp=60.0)
                if isinstance(e, AlertRaised)]
    run(f, range(110, 200), solvent_temp=40.2)  # back to normal, the silence ends
    assert overheat(f, range(200, 210)).sensor == "solvent_temp"


def test_an_unacknowledged_alert_escalates_in_event_time_and_an_acknowledged_one_does_not():
    book = AlertBook("ccs-01", escalate_after_ms=5_000)
    warn = AlertRaised(facility="ccs-01", alert_id="a1", sensor="solvent_temp",
                       kind="deviation", severity="warning", value=50.0, baseline=40.0,
                       score=7.0, model="robust-baseline", message="")
    book.apply(warn, at(0))
    assert book.escalations(at(4)) == []
    [(due, up)] = book.escalations(at(6))
    assert due == at(5) and (up.previous, up.severity, up.unacknowledged_ms) == (
        "warning", "minor", 5_000)
    book.apply(up, due)
    assert book.escalations(at(9)) == []  # the next step is due at 10 s
    book.apply(AlertAcknowledged(facility="ccs-01", alert_id="a1", sensor="solvent_temp",
                                 kind="deviation", user="ada"), at(9))
    assert book.escalations(at(100)) == []


def test_a_raise_of_an_active_alert_updates_it_instead_of_opening_another():
    f = plant()
    alert = overheat(f)
    again = AlertRaised(facility="ccs-01", alert_id="other", sensor="solvent_temp",
                        kind=alert.kind, severity="critical", value=70.0, baseline=40.0,
                        score=30.0, model="robust-baseline", message="")
    [update] = f.alerts.admit([again], at(120))
    assert isinstance(update, AlertUpdated)
    assert (update.alert_id, update.count, update.severity) == (alert.alert_id, 2, "critical")


def test_a_recommendation_is_decided_once():
    f = plant()
    found = run(f, range(100, 110), vent_co2=25.0)
    [rec] = [e for e in found if isinstance(e, RecommendationIssued)]
    rid = rec.recommendation_id
    [(_, ok)] = f.command(ApproveRecommendation(facility="ccs-01", recommendation_id=rid,
                                                user="ada", time=at(111)))
    assert isinstance(ok, RecommendationApproved) and ok.user == "ada"
    [(_, late)] = f.command(RejectRecommendation(facility="ccs-01", recommendation_id=rid,
                                                 user="bob", time=at(112)))
    assert isinstance(late, CommandRejected) and "approved already" in late.reason


def test_replaying_frames_and_commands_gives_the_same_events():
    def once():
        f = plant(escalate_after_ms=3_000)
        out = run(f, range(100, 106), solvent_temp=60.0)
        alert = next(e for e in out if isinstance(e, AlertRaised))
        out += [e for _, e in f.command(AcknowledgeAlert(
            facility="ccs-01", alert_id=alert.alert_id, user="ada", time=at(107)))]
        return out + run(f, range(107, 150), solvent_temp=40.2)

    assert once() == once()
