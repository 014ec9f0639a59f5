"""Rounds: the quiet frames of many facilities judged together in `SensorColumns`.

`derive_batches` takes fetched batches of READINGS messages, facility by facility in
each facility's own order: round k judges the k-th frame of every facility at once, as
columns (a packed frame's columns are views of its bytes: no Python per reading), and
what a frame causes, or a message the columns do not take, goes one reading at a time
through `Derivation.derive_message` before the facility's next message. The result is exactly
what `Derivation.derive` gives message by message. No I/O.
"""

from __future__ import annotations

import numpy as np

from plumeline.actors.facility import FacilityActor
from plumeline.actors.intake import Derived, FrameColumns, decode_message

__all__ = ["FrameRows", "derive_batches", "frame_rows", "scan_in_frame"]

_WATCHED = ("st_last", "grade", "after")
# facilities with fewer sensors are judged one reading at a time (_few_sensors)
COLUMN_MIN_SENSORS = 24


def derive_batches(batches: list[tuple[object, list[tuple[str, int, int, bytes]]]]
                   ) -> list[list[Derived]]:
    """`derive_batch` of each (derivation, messages) pair, and the same Derived each
    gives alone; the derivations that share their columns are judged together, round
    k taking the k-th message of every facility of all of them (each derivation's
    facilities have rows of their own, so nothing of one reaches another)."""
    outs: list[list[Derived | None]] = []
    groups: dict[int, list] = {}  # id of the columns: [(derivation, messages, out, facility, queue)]
    for d, messages in batches:
        out: list[Derived | None] = [None] * len(messages)
        outs.append(out)
        queues: dict[str, list[tuple[int, object]]] = {}
        for i, (subject, seq, arrived, data) in enumerate(messages):
            name, message, refused = decode_message(subject, seq, arrived, data)
            if refused is not None:
                out[i] = refused
            else:
                queues.setdefault(name, []).append((i, message))
        if d.config.detector.likelihood:  # its histograms are not in the columns
            for name, queue in queues.items():
                for i, message in queue:
                    out[i] = d.derive_message(name, messages[i][1], messages[i][2], message)
            continue
        # a derivation without columns yet gets its own at its first gather (_gather)
        shared = d.columns if d.columns is not None else d
        groups.setdefault(id(shared), []).extend(
            (d, messages, out, name, queue) for name, queue in queues.items())
    for live in groups.values():
        k = 0
        while live:
            chosen, alone = [], []
            for d, messages, out, name, queue in live:
                i, message = queue[k]
                # a facility's size is known once its manifest, maybe in this batch, is in
                rows = None if _few_sensors(d, name) else d.quiet_rows(name, message)
                if rows is None:
                    alone.append((d, name, message, messages[i], out, i))
                else:
                    chosen.append((d, name, message, rows, messages[i], out, i))
            if chosen:
                for (d, name, message, _, m, out, i), quiet in zip(chosen, _round(chosen)):
                    if quiet is None:
                        alone.append((d, name, message, m, out, i))
                    else:
                        out[i] = quiet
            # the rest, one reading at a time; their facilities rejoin the next round
            for d, name, message, (_, seq, arrived, _), out, i in alone:
                out[i] = d.derive_message(name, seq, arrived, message)
            k += 1
            live = [x for x in live if k < len(x[4])]
    return outs  # type: ignore[return-value]


def _few_sensors(d, name: str) -> bool:
    """Whether a facility is judged one reading at a time rather than in columns. The
    columns judge a frame one step of the plant (a layer) per call, at a fixed cost of
    ~0.1 ms of numpy a call, which a step of a few sensors does not repay: over the
    same simulated frames of 250 readings, µs a reading in columns against one at a
    time, 8 sensors 4.0 against 2.6, 16 2.7 against 2.3, 32 1.5 against 2.2
    (docs/benchmarks.md, "Small facilities")."""
    facility = d.facilities.get(name)
    return facility is not None and 0 < len(facility.sensors) < COLUMN_MIN_SENSORS


def _round(chosen: list) -> list[Derived | None]:
    """Judge one frame of each chosen facility in columns; commit and derive the
    frames that cause nothing (a Derived each), leave the others (None). `chosen`
    holds (derivation, facility, frame columns, rows, message, ...), all derivations
    sharing one SensorColumns.

    A frame may hold several readings of a sensor (several steps of the plant):
    its k-th readings of each sensor, in time order, form layer k, judged after
    layer k-1 is committed. A frame found to need `observe` gets its rows back as
    they were before the round."""
    cols = chosen[0][0].columns
    cfg = cols.config
    lengths = np.array([len(m) for _, _, m, *_ in chosen])
    starts = np.zeros(len(chosen), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    t = np.concatenate([m.times for _, _, m, *_ in chosen]).astype(np.int64, copy=False)
    x = np.concatenate([m.values for _, _, m, *_ in chosen]).astype(np.float64, copy=False)
    rows = np.concatenate([r.rows for _, _, _, r, *_ in chosen])
    emit = np.concatenate([r.emit for _, _, _, r, *_ in chosen])
    layers = max(r.layers for _, _, _, r, *_ in chosen)
    saved = {name: col[rows] for name, col in cols.cols.items()}
    if layers == 1:
        needs, due, new = cols.judge(rows, t, x, emit)
        cols.commit(rows, new)
    else:
        needs = np.zeros(len(rows), dtype=bool)
        due = np.zeros(len(rows), dtype=np.int64)
        occurrence = np.concatenate([r.occurrence for _, _, _, r, *_ in chosen])
        for layer in range(layers):
            at = occurrence == layer
            needs[at], due[at], new = cols.judge(rows[at], t[at], x[at], emit[at])
            cols.commit(rows[at], new)
    # what the facility settles when its time moves on, once per frame
    facilities = [d.facilities[name] for d, name, *_ in chosen]
    first = np.minimum.reduceat(t, starts)
    latest = np.maximum.reduceat(t, starts)
    soonest = np.minimum.reduceat(due, starts)
    f = np.array([(fa.balance.start, fa.balance.end, fa.alerts.next_due, fa.staleness.now,
                   fa.staleness.due, m[2] + cfg.max_future_ms)
                  for (_, _, _, _, m, *_), fa in zip(chosen, facilities)], dtype=np.float64)
    start, end, next_due, now, watch_due, future = f.T
    ok = ~np.logical_or.reduceat(needs, starts)
    ok &= (first >= start) & (latest < end) & (latest < next_due) & (latest <= future)
    # the silence watch's due after the frame: where its time may reach the due
    # it had, it scans the facility's sensors in the frame's midst (StaleWatch.seen)
    watched = np.minimum(watch_due, soonest).tolist()
    for k in np.flatnonzero(ok & (np.maximum(now, latest) >= np.minimum(watch_due, soonest))):
        seg = slice(starts[k], starts[k] + lengths[k])
        d, name, _, fr, *_ = chosen[k]
        watched[k] = scan_in_frame(cols, d.rows[name], cfg.stale_after_ms,
                                   facilities[k].staleness, fr, t[seg], due[seg],
                                   {n: saved[n][seg] for n in _WATCHED})
        ok[k] = watched[k] is not None
    if not ok.all():
        back = np.repeat(~ok, lengths)
        undo = rows[back]
        for name, col in cols.cols.items():
            col[undo] = saved[name][back]
    out: list[Derived | None] = []
    for k, ((d, name, frame, fr, m, *_), facility) in enumerate(zip(chosen, facilities)):
        if not ok[k]:
            out.append(None)
            continue
        watch = facility.staleness
        watch.now = max(watch.now, int(latest[k]))
        watch.due = int(watched[k])
        out.append(d.quiet_frame(name, facility, frame, fr, m[1]))
        d.in_columns += 1
    return out


def scan_in_frame(columns, rows: np.ndarray, stale: int, watch, fr: FrameRows, t: np.ndarray,
                  due: np.ndarray, before: dict[str, np.ndarray]) -> int | None:
    """The watch's due after a frame in which its time reaches its due, when the
    one scan this brings finds no sensor quiet; None when it finds one, or when a
    second scan would follow (the frame then goes through `observe`).

    `StaleWatch.seen` scans at the first reading that moves the facility's time on
    from a time at or past the due: with every reading before it applied, and
    none after. `rows` are the facility's rows in `columns`; `t`, `due` and
    `before` the frame's readings, the due each gives its sensor, and its rows'
    silence state before the frame."""
    order = np.argsort(t, kind="stable")
    ts, ds = t[order].astype(np.float64), due[order].astype(np.float64)
    local, occurrence = fr.local[order], fr.occurrence[order]
    now_before = np.maximum.accumulate(np.concatenate(([watch.now], ts[:-1])))
    due_before = np.minimum.accumulate(np.concatenate(([float(watch.due)], ds[:-1])))
    scans = (ts > now_before) & (now_before >= due_before)
    if not scans.any():
        return min(watch.due, int(ds.min()))
    i = int(np.argmax(scans))
    now = now_before[i]
    # when each sensor of the facility turns quiet, as the scan finds them
    c = columns.cols
    grade = c["grade"][rows]
    turned = c["st_last"][rows] + np.where((grade == 0) & (c["after"][rows] != 0),
                                           c["after"][rows], stale)
    turned[fr.local] = before["st_last"] + np.where(
        (before["grade"] == 0) & (before["after"] != 0), before["after"], stale)
    for layer in range(fr.layers):  # the readings before the scan, in their order
        at = occurrence[:i] == layer
        turned[local[:i][at]] = ds[:i][at]
    heard = (c["seen"][rows] != 0) & (grade < 2)
    if (turned[heard] <= now).any():
        return None  # a sensor found quiet: an alert
    after_scan = int(turned[heard].min()) if heard.any() else 2**63
    rest = np.minimum.accumulate(np.concatenate(([float(after_scan)], ds[i:-1])))
    if ((ts[i + 1:] > now_before[i + 1:]) & (now_before[i + 1:] >= rest[1:])).any():
        return None
    return min(after_scan, int(ds[i:].min()))


class FrameRows:
    """A frame's sensors as rows: `rows`, `emit` (watched for hotspots), the positions
    of its flow readings with their roles, each reading's `local` place among the
    facility's sensors, and its `occurrence` (how many readings of its sensor come
    before it in the frame) with their number of `layers`."""

    __slots__ = ("emit", "flows", "layers", "local", "occurrence", "roles", "rows")

    def __init__(self, rows, emit, flows, roles, occurrence, local) -> None:
        self.rows, self.emit, self.flows, self.roles = rows, emit, flows, roles
        self.local, self.occurrence = local, occurrence
        self.layers = int(occurrence.max()) + 1


def frame_rows(facility: FacilityActor, rows: np.ndarray, frame: FrameColumns
               ) -> FrameRows | None:
    """The rows of a frame's readings, or None if it names a sensor the facility (or
    its rows) does not have. Per name of the frame's table, then by index: no Python
    per reading."""
    place = {s: k for k, s in enumerate(facility.sensors)}
    table = [place.get(s) for s in frame.names]
    if None in table or max(table) >= len(rows):
        return None
    index = frame.index.astype(np.intp)
    if facility.retired and not facility.retired.isdisjoint(
            frame.names[k] for k in np.unique(index).tolist()):
        return None  # refused one by one, by `observe`
    local = np.array(table, dtype=np.intp)[index]
    # occurrence: a reading's rank among its sensor's readings, in the frame's order
    order = np.argsort(index, kind="stable")
    ranked = index[order]
    n = len(index)
    group = np.ones(n, dtype=bool)
    group[1:] = ranked[1:] != ranked[:-1]
    start = np.maximum.accumulate(np.where(group, np.arange(n), 0))
    occurrence = np.empty(n, dtype=np.int64)
    occurrence[order] = np.arange(n) - start
    is_flow = np.array([s in facility.flows for s in frame.names], dtype=bool)
    flows = np.flatnonzero(is_flow[index]).tolist()
    roles = {k: facility.sensors[frame.names[index[k]]].spec.role for k in flows}
    emit = np.array([s in facility.emitters for s in frame.names], dtype=bool)[index]
    return FrameRows(rows[local], emit, flows, roles, occurrence, local)
