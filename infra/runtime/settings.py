"""Configuration, read once: command-line values first, then the environment.

Nothing below `infra/` reads `os.environ`; everything else takes these values as
arguments.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "parse_duration"]


def _yes(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(".plumeline"))
    host: str = "127.0.0.1"
    port: int = 8000
    facilities: int = 3
    sensors_per_facility: int = 8
    rate_hz: float = 1.0
    seed: int = 7
    simulator: bool = True
    # hours of simulated past replayed before the simulator goes live, on a data dir
    # without readings; None: enough for a forecast (infra/runtime/history.py)
    history_h: float | None = None
    nats_url: str | None = None  # a NATS cluster, URLs comma-separated; None = embedded
    nats_replicas: int = 1  # copies of each stream on a NATS cluster's nodes; 3 survives one
    clickhouse_url: str | None = None  # a ClickHouse server; None = embedded chDB
    ray_address: str | None = None  # a Ray cluster; None = a private local Ray
    partitions: int = 16  # READINGS partitions; fixed for the life of a deployment
    shards: int | None = None  # shard hosts sharing the partitions; None: the cluster's CPUs
    pin: tuple[str, ...] = ()  # facilities placed on a shard host of their own
    # Ray resources each shard host asks for, e.g. {"shard_slot": 1} on a cluster whose
    # nodes offer a few slots: a host goes only where one is free
    shard_resources: dict[str, float] = field(default_factory=dict)
    snapshot_every: int = 1000  # messages of a lane between snapshots; 0: no snapshots
    snapshot_every_s: float = 60.0  # ... or this much stream time, whichever comes first
    num_cpus: int | None = None
    open_reads: bool = True  # GET routes answer callers without a token (the demo's default)
    max_body: int | None = None  # bytes of a request body; None: 1 MiB (/ingest 4 MiB)
    rate_limits: str | None = None  # serve/ratelimit.py Rates.parse; None: its defaults
    api_replicas: int = 1  # Serve replicas of the HTTP API, each a Python process
    mqtt_port: int = 0  # the embedded nats-server's MQTT listener; 0 = a free port
    # webhooks may reach loopback and private networks: for a lab whose receivers are
    # on the same machine, never for a plant (projections/outbound/webhook_targets.py)
    allow_private_webhooks: bool = False

    @classmethod
    def from_env(cls, **given) -> Settings:
        env = os.environ
        values = {k: v for k, v in given.items() if v is not None}
        values.setdefault("nats_url", env.get("PLUMELINE_NATS_URL") or None)
        values.setdefault("clickhouse_url", env.get("PLUMELINE_CLICKHOUSE_URL") or None)
        values.setdefault("ray_address", env.get("RAY_ADDRESS") or None)
        if values.pop("closed_reads", None) or _yes(env.get("PLUMELINE_CLOSED_READS", "")):
            values["open_reads"] = False
        if "max_body" not in values and (raw := env.get("PLUMELINE_MAX_BODY")):
            values["max_body"] = int(raw) if raw.strip().isdigit() else 0
        if values.get("max_body") is not None and values["max_body"] < 1:
            from plumeline.infra.runtime.errors import UserError

            raise UserError("the body limit (--max-body, PLUMELINE_MAX_BODY) is a positive "
                            "number of bytes")
        values.setdefault("rate_limits", env.get("PLUMELINE_RATE_LIMITS") or None)
        if values["rate_limits"] is not None:
            from plumeline.serve.ratelimit import Rates

            try:
                Rates.parse(values["rate_limits"])
            except ValueError as exc:
                from plumeline.infra.runtime.errors import UserError

                raise UserError(f"--rate-limits / PLUMELINE_RATE_LIMITS: {exc}") from None
        if env.get("PLUMELINE_NATS_REPLICAS"):
            values.setdefault("nats_replicas", int(env["PLUMELINE_NATS_REPLICAS"]))
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        if "pin" in values:
            values["pin"] = tuple(dict.fromkeys(values["pin"]))
        return cls(**values)

    @property
    def key_path(self) -> Path:
        return self.data_dir / "ledger.key"

    @property
    def api_key_path(self) -> Path:
        """The private key that signs API tokens (serve/tokens.py), made on first start."""
        return self.data_dir / "api-signing.pem"

    @property
    def api_public_keys_path(self) -> Path:
        """The public keys whose tokens are accepted, by kid (infra/cli/tokens.py)."""
        return self.data_dir / "api-public.json"

    @property
    def http_limits(self) -> dict:
        """build_app's limits this deployment sets (the rest keep their defaults)."""
        limits = {} if self.max_body is None else {"max_body": self.max_body}
        if self.rate_limits is not None:
            from plumeline.serve.ratelimit import Rates

            limits["rates"] = Rates.parse(self.rate_limits)
        return limits

    @property
    def runtime_path(self) -> Path:
        return self.data_dir / "runtime.json"


def parse_duration(text: str) -> int:
    """Seconds from "90", "90s", "30m", "2h" or "1d"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise ValueError(f"duration like 90s, 30m, 2h or 1d expected, got {text!r}")
    return int(float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]])
