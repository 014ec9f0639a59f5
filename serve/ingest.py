"""`POST /ingest`: frames over HTTP, for devices that cannot speak NATS (or MQTT).

The body is one wire Frame as JSON, or a JSON array of them. It is validated once,
here, and each frame is published msgpack-encoded to its facility's READINGS subject,
exactly as a device on NATS would publish it. Its message id is the hash of those
bytes, so a device that posts the same frame again (a lost answer, a retry) does not
count it twice. A device token names the facilities it posts for; a frame for any
other is refused whole (403) before anything is published. A frame outside the wire
schema's bounds (events/acceptance.py), a time more than a day past this server's
clock, or a value not finite is a 422; what passes but not the actors' checks (an
unknown sensor, a time minutes ahead of the stream's) is dead-lettered downstream
with its reason.
"""

from __future__ import annotations

import hashlib

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.events import Frame, edge_refusal, encode_wire
from plumeline.serve._params import BadRequest
from plumeline.serve.auth import needs

__all__ = ["MAX_BODY", "MAX_FRAMES", "routes"]

# bytes of JSON, the body limit of this route (serve/limits.py); READINGS takes
# messages up to 8 MB
MAX_BODY = 4 * 1024 * 1024
MAX_FRAMES = 1000

_decoder = msgspec.json.Decoder(Frame | list[Frame])


def _check_facilities(request: Request, frames: list[Frame]) -> None:
    user = request.user
    if getattr(user, "role", None) != "device":
        return  # operators and admins post for any facility
    if others := sorted({f.facility for f in frames} - user.facilities):
        raise BadRequest(f"device {user.display_name} may not post for {', '.join(others)}; "
                         f"its token names {', '.join(sorted(user.facilities))}", 403)


@needs("ingest")
async def ingest(request: Request) -> JSONResponse:
    try:
        decoded = _decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        raise BadRequest(f"not a frame or a list of frames: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    frames = [decoded] if isinstance(decoded, Frame) else decoded
    if not frames:
        raise BadRequest("no frames", 422)
    if len(frames) > MAX_FRAMES:
        raise BadRequest(f"at most {MAX_FRAMES} frames per request, got {len(frames)}", 413)
    now = int(request.app.state.clock() * 1000)
    for k, frame in enumerate(frames):
        if (why := edge_refusal(frame.times, frame.values, now)) is not None:
            raise BadRequest(f"frame {k}: {why}", 422)
    _check_facilities(request, frames)
    messages = []
    for frame in frames:
        payload = encode_wire(frame)
        messages.append((frame.facility, payload, hashlib.sha256(payload).hexdigest()))
    acks = await request.app.state.intake.publish_frames(messages)
    return JSONResponse({"frames": len(frames), "seqs": [seq for seq, _ in acks],
                         "duplicates": sum(dup for _, dup in acks)}, status_code=202)


routes = [Route("/ingest", ingest, methods=["POST"])]
