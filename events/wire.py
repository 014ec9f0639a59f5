"""What goes on READINGS: frames of readings, facility manifests, operator commands.

A frame, not a reading, is the unit on the wire (DESIGN.md: per-message cost
dominates). Frames are columnar so a shard host can turn them into arrays at once:
`encode_wire` writes a `Frame` packed (`PackedFrame`, tag "frame.v2", events/packed.py),
and `decode_wire` reads both that and the lists of version 1 (tag "frame"), which
READINGS holds from before and which replays must still read.
Times are event times in integer milliseconds since the Unix epoch, always taken from
the device, never from the receiving clock.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Literal

import msgspec

from plumeline.events.acceptance import (
    LATEST_MS,
    MAX_ITEMS,
    MAX_READINGS,
    Label,
    Name,
    Text,
    Time,
)
from plumeline.events.identity import IdentityCommand
from plumeline.events.packed import PackedFrame, pack, unpack

__all__ = [
    "COMMANDS",
    "FLOW_UNIT",
    "SENSOR_COMMANDS",
    "AcknowledgeAlert",
    "ApproveRecommendation",
    "ChangeSensor",
    "ClearAlert",
    "Command",
    "FRAMES",
    "DeclareSensor",
    "Frame",
    "Manifest",
    "Name",
    "PackedFrame",
    "RejectRecommendation",
    "RetireSensor",
    "Role",
    "SensorCommand",
    "SensorSpec",
    "SilenceSensor",
    "WireMessage",
    "command_subject",
    "decode_wire",
    "encode_wire",
    "frame_lists",
    "partition_of",
    "misfiled",
    "readings_subject",
    "spec_refusal",
    "subject_facility",
]


Role = Literal["emitted", "captured", "stored", "vented", "process"]


class SensorSpec(msgspec.Struct, frozen=True):
    """One sensor of a facility as its manifest declares it.

    `role` places the sensor in the facility's CO2 balance: "emitted" (flue gas to
    the capture plant or stack), "captured", "stored" (injected), "vented", or
    "process" (temperatures, pressures, rates that are not a CO2 flow).
    """

    sensor: Name
    quantity: Label
    unit: Label
    role: Role = "process"


class Frame(msgspec.Struct, frozen=True, tag="frame"):
    """Readings of one facility: reading i is (sensors[i], times[i], values[i]).

    What JSON carries (POST /ingest) and what Python builds; on the wire since
    frame.v2 only in READINGS' older messages (`encode_wire` packs it).

    The schema bounds each time and the number of readings (events/acceptance.py);
    a value's finiteness and a time's distance past its message are judged per
    reading by the actors, which refuse the reading and keep the rest of the frame."""

    facility: Name
    sensors: Annotated[list[Label], msgspec.Meta(max_length=MAX_READINGS)]
    times: Annotated[list[Time], msgspec.Meta(max_length=MAX_READINGS)]
    values: Annotated[list[float], msgspec.Meta(max_length=MAX_READINGS)]

    @property
    def count(self) -> int:
        """How many readings the frame holds (as `PackedFrame.count`)."""
        return len(self.values)

    def __post_init__(self) -> None:
        n = len(self.sensors)
        if len(self.times) != n or len(self.values) != n:
            raise ValueError(
                f"frame columns differ in length: sensors={n}, times={len(self.times)}, "
                f"values={len(self.values)}"
            )


class Manifest(msgspec.Struct, frozen=True, tag="manifest"):
    """A facility declares itself and its sensors; readings of undeclared sensors are refused."""

    facility: Name
    name: Text
    kind: Label
    sensors: Annotated[list[SensorSpec], msgspec.Meta(max_length=MAX_ITEMS)]
    time: Annotated[int, msgspec.Meta(ge=0, le=LATEST_MS)] = 0  # 0: its message's time


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's command, sent on the facility's command subject (`command_subject`).

    Commands travel in the facility's input log, in order with its frames, so that
    replaying READINGS replays the decisions too (docs/architecture.md, "Commands").
    `time` is the command's wall-clock time in ms, stamped once by the HTTP layer and
    stored in the stream: the event time of what the command causes.
    """

    facility: Name
    user: Text
    time: Time


class AcknowledgeAlert(_Command, tag="command.acknowledge_alert"):
    alert_id: Text
    note: Text = ""


class ClearAlert(_Command, tag="command.clear_alert"):
    alert_id: Text
    note: Text = ""


class SilenceSensor(_Command, tag="command.silence_sensor"):
    """No new alerts from `sensor` ("" for the whole facility) until `until_ms`."""

    until_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]  # what POST /silences takes
    sensor: Label = ""
    reason: Text = ""


class DeclareSensor(_Command, tag="command.declare_sensor"):
    """An admin declares a sensor, as a manifest would (`SensorRegistered`)."""

    sensor: Name
    quantity: Label
    unit: Label
    role: Role = "process"


class ChangeSensor(_Command, tag="command.change_sensor"):
    """An admin changes a sensor's unit or role; "" / None: as it is."""

    sensor: Label
    unit: Label = ""
    role: Role | None = None


class RetireSensor(_Command, tag="command.retire_sensor"):
    """An admin retires a sensor: its readings are refused from then on."""

    sensor: Label


class ApproveRecommendation(_Command, tag="command.approve_recommendation"):
    recommendation_id: Text
    note: Text = ""


class RejectRecommendation(_Command, tag="command.reject_recommendation"):
    recommendation_id: Text
    note: Text = ""


SensorCommand = DeclareSensor | ChangeSensor | RetireSensor
SENSOR_COMMANDS = (DeclareSensor, ChangeSensor, RetireSensor)
Command = (
    AcknowledgeAlert | ClearAlert | SilenceSensor | ApproveRecommendation | RejectRecommendation
    | SensorCommand
)
COMMANDS = (AcknowledgeAlert, ClearAlert, SilenceSensor, ApproveRecommendation,
            RejectRecommendation, *SENSOR_COMMANDS)

# The balance integrates CO2 flows in tonnes per hour (actors/accounting.py): a sensor
# in a flow role reads in t/h, or its readings would be summed as what they are not.
FLOW_UNIT = "t/h"


def spec_refusal(unit: str, role: str) -> str | None:
    """Why an admin may not give a sensor this unit and role, or None. (Manifests
    keep what they always declared: this holds for what an admin declares or changes,
    judged alike by the HTTP layer and the facility's actor.)"""
    if not unit.strip():
        return "a sensor needs a unit"
    if role != "process" and unit != FLOW_UNIT:
        return f"a sensor in role {role!r} is a CO2 flow, read in {FLOW_UNIT}, not {unit!r}"
    return None

WireMessage = Frame | PackedFrame | Manifest | Command | IdentityCommand
FRAMES = (Frame, PackedFrame)

_msgpack_decoder = msgspec.msgpack.Decoder(WireMessage)
_json_decoder = msgspec.json.Decoder(WireMessage)
_encoder = msgspec.msgpack.Encoder()


def frame_lists(frame: Frame | PackedFrame) -> Frame:
    """A frame of either version as per-reading lists (Python per reading: for readers
    of a few frames, such as `audit reading`; others read columns)."""
    if isinstance(frame, PackedFrame):
        return Frame(frame.facility, *unpack(frame))
    return frame


def encode_wire(message: WireMessage) -> bytes:
    """msgpack of the message; a `Frame` goes packed (frame.v2), converted here, once."""
    if isinstance(message, Frame):
        message = pack(message.facility, message.sensors, message.times, message.values)
    return _encoder.encode(message)


def decode_wire(data: bytes, *, json: bool = False) -> WireMessage:
    """Decode and validate; raises msgspec.ValidationError / DecodeError on bad input."""
    return (_json_decoder if json else _msgpack_decoder).decode(data)


def partition_of(facility: str, partitions: int) -> int:
    """The stable partition of a facility: the same on every machine and every run."""
    return zlib.crc32(facility.encode()) % partitions


def readings_subject(facility: str, partitions: int) -> str:
    """`readings.<partition>.<facility>`: a shard host filters on its partitions."""
    return f"readings.{partition_of(facility, partitions)}.{facility}"


COMMAND_TOKEN = "command"


def command_subject(facility: str, partitions: int) -> str:
    """`readings.<partition>.<facility>.command`: the facility's operator commands.

    Under the facility's readings subject, so in READINGS and in the partition's
    consumer, in one order with its frames; but a subject of its own, which only the
    HTTP layer may publish to (a device may publish exactly its readings subject)."""
    return f"{readings_subject(facility, partitions)}.{COMMAND_TOKEN}"


def subject_facility(subject: str) -> tuple[str, bool] | None:
    """(facility, is a command subject) of a READINGS subject, or None for a subject
    that is neither `readings.<p>.<f>` nor `readings.<p>.<f>.command`."""
    tokens = subject.split(".")
    if tokens[0] != "readings" or len(tokens) not in (3, 4) or not tokens[2]:
        return None
    if len(tokens) == 4 and tokens[3] != COMMAND_TOKEN:
        return None
    return tokens[2], len(tokens) == 4


def misfiled(message: WireMessage | None, subject: str) -> str | None:
    """Why `message` may not be taken from `subject` (None: the subject alone may
    carry nothing), or None if it may: an operator's command
    only from a command subject, a frame or a manifest only from a readings subject.
    Who may publish where is the bus's to enforce (infra/runtime/nats_auth.py); this is what
    makes a command that slipped onto a readings subject (a device's, or anyone's on
    a bus without permissions) change nothing, live and on every replay alike."""
    found = subject_facility(subject)
    if found is None:
        return f"subject {subject} is not a readings or command subject"
    on_command_subject = found[1]
    if isinstance(message, (*FRAMES, Manifest)):
        if on_command_subject:
            kind = "manifest" if isinstance(message, Manifest) else "frame"
            return f"a {kind} on command subject {subject}"
        return None
    if not on_command_subject:
        return (f"command {type(message).__name__} on readings subject {subject}: "
                "commands are taken only from the command subject")
    return None
