"""`plumeline up` as a user runs it: a process of its own, a simulator, Ctrl-C, again."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import free_port


def _up(data_dir, port, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "plumeline.infra.cli", "up", "--data-dir", str(data_dir),
         "--port", str(port), "--facilities", "2", "--sensors-per-facility", "8", *more],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"up did not stop within 120 s on Ctrl-C:\n{out[-3000:]}")
    return out


def _poll(url: str, until, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=10).json()
            if until(last):
                return last
        except (httpx.HTTPError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never satisfied the test; last answer: {last}")


def _explained(alerts: list[dict], truth_path) -> list[dict]:
    """Alerts raised on a sensor an injected anomaly changed, while it was injected."""
    if not truth_path.exists():
        return []
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    return [
        a for a in alerts for w in truth
        if a["facility"] == w["facility"] and a["sensor"] in (w["sensor"], *w["affected"])
        and w["start_ms"] <= a["raised_at_ms"] <= w["end_ms"] + 60_000
    ]


def test_up_shows_injected_alerts_stops_on_ctrl_c_and_resumes(tmp_path):
    data, port = tmp_path / "data", free_port()
    truth = data / "ground_truth.jsonl"
    proc = _up(data, port, "--history", "1")
    try:
        # an hour of the plant's past is replayed first, then the first anomaly is
        # injected 45 s in; two minutes is the promise
        _poll(f"http://127.0.0.1:{port}/alerts",
              lambda r: _explained(r.get("alerts", []), truth), 150)
        # auditors need not stop the system: verify reaches the running one's NATS
        assert main(["verify", "--data-dir", str(data)]) == 0
        # nothing it started listens beyond loopback: Ray, HAProxy, nats-server, replicas
        started = {*_descendants(proc.pid),
                   json.loads((data / "runtime.json").read_text())["nats_pid"]}
        listening = _listeners(started)
        assert len(listening) >= 8 and all(ip.is_loopback for ip, _ in listening), listening
        haproxy = _haproxy_dirs(proc.pid)  # Serve's HAProxy files, made by this run
        assert len(haproxy) == 1 and Path(next(iter(haproxy))).is_dir(), haproxy
    except BaseException:
        print(_stop(proc)[-5000:])
        raise
    out = _stop(proc)
    assert proc.returncode == 0, out[-3000:]
    for cred in (data / "credentials").glob("*.json"):  # NATS passwords never logged
        assert json.loads(cred.read_text())["password"] not in out, cred.name
    assert '"history_replayed"' in out, out[-3000:]
    assert not (data / "runtime.json").exists()
    assert not Path(next(iter(haproxy))).exists()  # removed with the run's Ray
    assert main(["verify", "--data-dir", str(data)]) == 0

    # a second `up` on the same data dir resumes: the ledger grows from where it was,
    # the past is not replayed again; this time two replicas answer the API
    size_before = _ledger_size(data)
    proc = _up(data, port, "--api-replicas", "2")
    try:
        _poll(f"http://127.0.0.1:{port}/health",
              lambda r: r.get("ledger_size", 0) > size_before, 120)
        assert _api_replicas(proc.pid) == 2
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out[-3000:]
    assert '"history_kept"' in out and '"history_replay_started"' not in out, out[-3000:]
    assert main(["verify", "--data-dir", str(data)]) == 0


def _ledger_size(data) -> int:
    bundle = data.parent / "size.bundle"
    assert main(["export", "--data-dir", str(data), "-o", str(bundle)]) == 0
    return sum(1 for line in bundle.read_text().splitlines() if line.startswith('{"event"'))


def _api_replicas(pid: int) -> int:
    """Serve replicas of the API among the descendants of process `pid` (Ray's
    processes are its children's children)."""
    found = 0
    for child in _descendants(pid):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            found += cmd.startswith(b"ray::ServeReplica") and b"Api" in cmd.split(b"\0")[0]
    return found


def _haproxy_dirs(pid: int) -> set[str]:
    """The HAProxy directories named in the environment of `pid`'s descendants (Ray's
    processes, started after `start_ray` set it)."""
    found = set()
    for child in _descendants(pid):
        with contextlib.suppress(OSError):
            for entry in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
                if entry.startswith(b"RAY_SERVE_HAPROXY_SERVER_STATE_BASE="):
                    found.add(entry.split(b"=", 1)[1].decode())
    return found


def _listeners(pids: set[int]) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, port) of every TCP socket listening in processes `pids`
    (/proc/net/tcp and tcp6: state 0A, addresses in the kernel's byte order)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:
                continue
            hexaddr, port = fields[1].split(":")
            raw = b"".join(bytes.fromhex(hexaddr[i:i + 8])[::-1] for i in range(0, len(hexaddr), 8))
            ip = ipaddress.ip_address(raw)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            found.append((ip, int(port, 16)))
    return found


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            found.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _second_run(data, port, proc, health) -> None:
    deadline = time.monotonic() + 120
    while not _started(data, proc.pid):  # not the dying first run's ingress
        assert time.monotonic() < deadline and proc.poll() is None, "no second start"
        time.sleep(1)
    _poll(f"http://127.0.0.1:{port}/health",
          lambda r: r.get("ledger_size", 0) >= health["ledger_size"], 60)
    time.sleep(5)  # frames published by this run, derived or not yet at Ctrl-C


def _started(data, pid: int) -> bool:
    try:
        info = json.loads((data / "runtime.json").read_text())
    except (OSError, ValueError):
        return False
    return info["pid"] == pid and info["http_url"] is not None


def test_up_killed_with_sigkill_starts_again_over_its_leftovers(tmp_path):
    """SIGKILL leaves `up`'s nats-server (a session of its own), some Ray agents and
    the directory of Ray's HAProxy files; the next `up` on the data dir stops and
    removes them, resumes the ledger, and a Ctrl-C after it drains READINGS: verify
    and audit replay pass, no event twice."""
    data, port = tmp_path / "data", free_port()
    proc = _up(data, port, "--rate", "4", "--snapshot-every", "20", "--history", "0")
    try:
        health = _poll(f"http://127.0.0.1:{port}/health",
                       lambda r: r.get("ledger_size", 0) > 0, 120)
    except BaseException:
        print(_stop(proc)[-5000:])
        raise
    time.sleep(3)  # killed mid-stream: the simulator publishing, the hosts deriving
    left = json.loads((data / "runtime.json").read_text())
    proc.kill()
    proc.communicate()
    assert _alive(left["nats_pid"])  # the leftover the next start must deal with
    assert Path(left["haproxy_dir"]).is_dir()  # and Ray's HAProxy files

    proc = _up(data, port, "--rate", "4", "--snapshot-every", "20", "--history", "0")
    try:
        _second_run(data, port, proc, health)
    finally:
        out = _stop(proc)
        cleaned = not _alive(left["nats_pid"])
        if not cleaned:  # the test failed: leave nothing running all the same
            with contextlib.suppress(ProcessLookupError):
                os.kill(left["nats_pid"], signal.SIGTERM)
    assert proc.returncode == 0, out[-3000:]
    assert cleaned, out[-3000:]
    assert not Path(left["haproxy_dir"]).exists()
    assert "leftovers_stopped" in out
    assert main(["verify", "--data-dir", str(data)]) == 0
    assert main(["audit", "replay", "--data-dir", str(data)]) == 0
    bundle = tmp_path / "all.bundle"
    assert main(["export", "--data-dir", str(data), "-o", str(bundle)]) == 0
    ids = [json.loads(line)["event"]["id"] for line in bundle.read_text().splitlines()
           if line.startswith('{"event"')]
    assert ids and len(ids) == len(set(ids))
