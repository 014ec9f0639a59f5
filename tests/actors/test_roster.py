"""An admin's sensor commands: declared, changed and retired sensors, judged by the
facility's actor like a manifest's, and a retired sensor's readings refused as an
undeclared one's are, the same whether a batch is judged in columns or one by one."""

from __future__ import annotations

import pickle

import msgspec

from plumeline.actors import Derivation, FacilityActor, FacilityConfig
from plumeline.events import (
    AlertCleared,
    AlertRaised,
    ChangeSensor,
    CommandRejected,
    DeclareSensor,
    Frame,
    Manifest,
    RetireSensor,
    SensorChanged,
    SensorRegistered,
    SensorRetired,
    SensorSpec,
    command_subject,
    encode_wire,
    readings_subject,
)

T0 = 1_767_225_600_000
F = "ccs-01"
SPECS = [SensorSpec(sensor="flue_co2", quantity="CO2 flow", unit="t/h", role="emitted"),
         SensorSpec(sensor="solvent_temp", quantity="temperature", unit="degC")]
MANIFEST = Manifest(facility=F, name="CCS 1", kind="ccs", sensors=SPECS, time=T0)


def _command(kind, **fields):
    return kind(facility=F, user="root", time=T0 + 1, **fields)


def _decided(f: FacilityActor, command):
    [(time, event)] = f.command(command)
    assert time == command.time
    return event


def _plant() -> FacilityActor:
    f = FacilityActor(F, FacilityConfig())
    f.register(MANIFEST)
    return f


def test_a_declared_sensor_is_registered_as_a_manifests_is_with_who_declared_it():
    f = _plant()
    event = _decided(f, _command(DeclareSensor, sensor="vent_co2", quantity="CO2 flow",
                                 unit="t/h", role="vented"))
    assert event == SensorRegistered(facility=F, sensor="vent_co2", quantity="CO2 flow",
                                     unit="t/h", role="vented", by="root")
    assert f.sensors["vent_co2"].spec.role == "vented" and "vent_co2" in f.flows
    # a manifest naming it again adds nothing, as for any declared sensor
    again = Manifest(facility=F, name="CCS 1", kind="ccs", sensors=[
        SensorSpec(sensor="vent_co2", quantity="CO2 flow", unit="t/h", role="vented")])
    assert f.register(again) == []
    # a manifest's registration is written as before: no `by`
    assert b'"by"' not in msgspec.json.encode(SensorRegistered(
        facility=F, sensor="s", quantity="q", unit="u", role="process"))


def test_what_cannot_be_done_is_rejected_with_the_reason():
    f = _plant()
    nowhere = FacilityActor("ghost", FacilityConfig())
    cases = [
        (nowhere, _command(RetireSensor, sensor="x"), "no facility"),
        (f, _command(RetireSensor, sensor="nope"), "no sensor nope"),
        (f, _command(ChangeSensor, sensor="nope", unit="K"), "no sensor nope"),
        (f, _command(DeclareSensor, sensor="flue_co2", quantity="q", unit="t/h"),
         "is declared already"),
        (f, _command(DeclareSensor, sensor="vent", quantity="q", unit="kg", role="vented"),
         "read in t/h"),
        (f, _command(DeclareSensor, sensor="vent", quantity="q", unit=" "), "needs a unit"),
        (f, _command(ChangeSensor, sensor="solvent_temp", role="captured"), "read in t/h"),
        (f, _command(ChangeSensor, sensor="solvent_temp", unit="degC"), "already"),
    ]
    for actor, command, reason in cases:
        event = _decided(actor, command)
        assert isinstance(event, CommandRejected), (command, event)
        assert reason in event.reason and event.user == "root", (command, event)
    assert [s for s in f.sensors] == ["flue_co2", "solvent_temp"]


def test_a_change_moves_a_sensor_between_the_balance_and_the_process_sensors():
    f = _plant()
    event = _decided(f, _command(ChangeSensor, sensor="flue_co2", role="process", unit="kg/s"))
    assert event == SensorChanged(facility=F, sensor="flue_co2", quantity="CO2 flow",
                                  unit="kg/s", role="process", by="root")
    assert "flue_co2" not in f.flows and "flue_co2" not in f.emitters
    assert f.sensors["flue_co2"].spec.unit == "kg/s"
    _decided(f, _command(ChangeSensor, sensor="flue_co2", role="emitted", unit="t/h"))
    assert "flue_co2" in f.flows and "flue_co2" in f.emitters


def test_a_retired_sensors_readings_are_refused_and_dead_lettered_like_an_unknown_ones():
    d = Derivation(FacilityConfig())
    subject = readings_subject(F, 1)
    d.derive(subject, 1, T0, encode_wire(MANIFEST))
    retired = d.derive(command_subject(F, 1), 2, T0, encode_wire(
        _command(RetireSensor, sensor="solvent_temp")))
    [envelope] = retired.envelopes
    assert envelope.body == SensorRetired(facility=F, sensor="solvent_temp",
                                          quantity="temperature", unit="degC",
                                          role="process", by="root")
    frame = Frame(facility=F, sensors=["flue_co2", "solvent_temp", "ghost"],
                  times=[T0 + 1000] * 3, values=[400.0, 40.0, 1.0])
    out = d.derive(subject, 3, T0 + 1000, encode_wire(frame))
    assert out.rejected.sensors == ["solvent_temp", "ghost"]
    assert out.rejected.reasons == ["retired sensor", "unknown sensor"]
    assert out.deadletter[0] == "retired sensor; unknown sensor"
    assert out.counts["readings"] == 1
    again = d.derive(command_subject(F, 1), 4, T0, encode_wire(
        _command(RetireSensor, sensor="solvent_temp")))
    assert "retired already" in again.envelopes[0].body.reason


def _messages() -> list[tuple[str, int, int, bytes]]:
    """A facility's frames with an admin's commands amid them: a sensor declared, one
    moved out of the balance, one retired (whose readings go on arriving), over long
    enough for silence to be judged."""
    wire: list = [(MANIFEST, T0)]
    sensors = ["flue_co2", "solvent_temp"]
    for step in range(1200):
        t = T0 + step * 1000
        if step == 300:
            wire.append((_command(DeclareSensor, sensor="vent_co2", quantity="CO2 flow",
                                  unit="t/h", role="vented"), t))
            sensors = [*sensors, "vent_co2"]
        if step == 500:
            wire.append((_command(ChangeSensor, sensor="flue_co2", role="process",
                                  unit="kg/s"), t))
        if step == 700:
            wire.append((_command(RetireSensor, sensor="solvent_temp"), t))
        values = [400.0 + step % 3, 40.0 + 0.1 * (step % 7), 5.0 + 0.01 * (step % 4)]
        wire.append((Frame(facility=F, sensors=sensors, times=[t] * len(sensors),
                           values=values[:len(sensors)]), t))
    return [(command_subject(F, 1) if isinstance(m, (DeclareSensor, ChangeSensor,
                                                    RetireSensor)) else readings_subject(F, 1),
             i + 1, arrived, encode_wire(m)) for i, (m, arrived) in enumerate(wire)]


def test_a_batch_with_sensor_commands_gives_what_its_messages_give_one_by_one():
    messages = _messages()
    alone = Derivation(FacilityConfig())
    expected = [alone.derive(*m) for m in messages]
    d = Derivation(FacilityConfig())
    got = []
    for k in range(0, len(messages), 50):
        got += d.derive_batch(messages[k:k + 50])
    encode = msgspec.json.Encoder(order="sorted").encode
    assert [[encode(e) for e in x.envelopes] for x in got] == \
        [[encode(e) for e in x.envelopes] for x in expected]
    assert [x.deadletter for x in got] == [x.deadletter for x in expected]
    d.settle()
    assert pickle.dumps(d.facilities) == pickle.dumps(alone.facilities)
    assert d.in_columns > 0
    # the retired sensor, silent in the ledger's eyes, is never found quiet
    quiet = [e.body for x in expected for e in x.envelopes
             if getattr(e.body, "kind", "") in ("stale", "dropout")]
    assert quiet == [], quiet
    # every later reading of it refused, one per frame
    assert sum(x.counts.get("rejected", 0) for x in expected) == 1200 - 700


def test_retiring_a_sensor_clears_its_open_alerts_in_the_admins_name():
    f = _plant()
    for sensor, kind in (("solvent_temp", "deviation"), ("solvent_temp", "stuck"),
                         ("flue_co2", "deviation")):
        f.apply(AlertRaised(facility=F, alert_id=f"a-{sensor}-{kind}", sensor=sensor,
                            kind=kind, severity="warning", value=41.0, baseline=40.0,
                            score=5.0, model="robust-baseline", message="test"), T0)
    caused = f.command(_command(RetireSensor, sensor="solvent_temp"))
    assert [type(e) for _, e in caused] == [SensorRetired, AlertCleared, AlertCleared]
    cleared = [e for _, e in caused if isinstance(e, AlertCleared)]
    assert {e.alert_id for e in cleared} == {"a-solvent_temp-deviation", "a-solvent_temp-stuck"}
    assert all(e.by == "root" and e.sensor == "solvent_temp" for e in cleared)
    assert list(f.alerts.active) == ["a-flue_co2-deviation"]  # another sensor's stays open
