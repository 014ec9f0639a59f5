"""The emissions report: per facility, a period's measured emissions and capture, each
window with the ledger seq of the EmissionsMeasured record it comes from, so an
auditor can check every figure against the log (`/ledger/proof/{seq}`).

Readable by operators, auditors and admins (the `report` scope), never anonymously.
JSON by default; `?format=csv` gives one row per window and one total per facility.
A CSV cell that a spreadsheet would take for a formula (it starts with = + - @, a tab
or a carriage return) is written with a leading `'`, so a facility named by a device
cannot run in the auditor's spreadsheet; numbers are written as they are.
"""

from __future__ import annotations

import csv
import io

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plumeline.serve._params import BadRequest, as_of, choice, instant
from plumeline.serve.auth import needs

__all__ = ["CSV_COLUMNS", "routes"]

CSV_COLUMNS = ("row", "facility", "window_start", "window_end", "emitted_t", "captured_t",
               "stored_t", "vented_t", "capture_efficiency", "readings", "ledger_seqs",
               "event_id", "readings_first_seq", "readings_last_seq")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in report["facilities"]:
        for w in f["windows"]:
            _row(writer, ["window", f["facility"], w["window_start"], w["window_end"]]
                 + [w[k] for k in CSV_COLUMNS[4:10]]
                 + [w["seq"], w["event_id"], w["readings_first_seq"], w["readings_last_seq"]])
        _row(writer, ["total", f["facility"], report["from"], report["to"]]
             + [f[k] for k in CSV_COLUMNS[4:10]]
             + [" ".join(map(str, f["ledger_seqs"])), "", "", ""])
    return out.getvalue()


def _row(writer, cells: list) -> None:
    writer.writerow([_cell(c) for c in cells])


@needs("report")
async def emissions(request: Request) -> Response:
    lo, hi = instant(request, "from"), instant(request, "to")
    if lo is None or hi is None:
        raise BadRequest("give the period: from and to (epoch ms or ISO-8601)")
    fmt = choice(request, "format", ("json", "csv"), "json")
    report = await request.app.state.reader.query(
        "emissions_report", from_ms=lo, to_ms=hi, as_of_seq=await as_of(request))
    if fmt == "json":
        return JSONResponse(report)
    name = f"emissions-{report['from'][:10]}-{report['to'][:10]}.csv"
    return Response(_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [Route("/reports/emissions", emissions)]
