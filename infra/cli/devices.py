"""`plumeline device add FACILITY`: an identity a facility's device publishes with.

The device may publish its facility's readings subject and nothing else, over NATS or
over MQTT (the embedded nats-server maps MQTT logins onto the same users). Its
credentials are written to DATA_DIR/credentials/device-FACILITY.json (mode 0600), to
be handed to the device; a running `up` on the data dir loads the new user at once.
"""

from __future__ import annotations

from plumeline.infra.runtime.data_dir import reload_nats_users
from plumeline.infra.runtime.errors import UserError
from plumeline.infra.runtime.nats_auth import add_device, credentials_dir, device_user
from plumeline.infra.runtime.settings import Settings

__all__ = ["add"]


def add(args) -> int:
    data_dir, facility = args.data_dir, args.facility
    try:
        path = add_device(data_dir, facility, Settings().partitions)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except FileExistsError:
        raise UserError(f"{facility} has a device identity already: "
                        f"{credentials_dir(data_dir) / device_user(facility)}.json") from None
    reloaded = reload_nats_users(data_dir)
    print(f"device {device_user(facility)}: credentials in {path} (keep them secret; "
          f"they hold the password)")
    print(f"  publishes to {_subject(path)} on NATS, topic "
          f"{_subject(path).replace('.', '/')} on MQTT, and nowhere else")
    print("  the running nats-server has loaded it" if reloaded
          else "  the nats-server loads it when `plumeline up` next starts on this data dir")
    return 0


def _subject(path) -> str:
    import json

    return json.loads(path.read_text())["subject"]
