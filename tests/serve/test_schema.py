"""Every operation of /openapi.json, driven by schemathesis with an admin's token over
real chDB projections and a real nats-server: whatever the generated request, the app
answers without a server error. The operations come from the spec the app serves, so
routes added later are covered without touching this file."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import _get_portal

from plumeline.events import FacilityRegistered, Frame, encode_wire
from plumeline.projections.outbound.notifier import Notifier
from plumeline.serve.app import build_app
from plumeline.serve.commands import BusPublisher
from plumeline.serve.identity import IdentityStore
from plumeline.serve.openapi import SPEC
from plumeline.serve.signin import SignIn, Throttle
from plumeline.serve.tokens import TokenKey
from plumeline.simulator import what_if
from tests.projections.conftest import STORY as OPERATIONS
from tests.projections.test_emissions_views import STORY as EMISSIONS
from tests.projections.test_emissions_views import T0, H

KEY = TokenKey(b"k" * 32)
NOW = (T0 + 2 * H) / 1000
ADMIN = {"Authorization": f"Bearer {KEY.issue('ada', 'admin', int(NOW) + 3600)}"}
FRAMES = [encode_wire(Frame(facility="f1", sensors=["flue", "capture"],
                            times=[T0 + 2 * H + m * 1000] * 2, values=[120.0, 60.0]))
          for m in range(30)]


@pytest.fixture
def api_schema(projected, nats_server, js_run):
    js_run(_streams_declared)  # js_run declares READINGS and the rest first
    story = [(T0, FacilityRegistered(facility="f1", name="Plant One", kind="ccs"))]
    reader, ledger = projected(story + OPERATIONS + EMISSIONS, FRAMES)
    publisher = BusPublisher(nats_server.url, 16)
    notifier = Notifier(nats_server.url)
    _get_portal().call(notifier.start)  # in schemathesis' own event loop, as the app
    # failed sign-ins barely slowed: the fuzzer fails hundreds from one address
    sign_in = SignIn(IdentityStore(js_of=publisher._connect), KEY,
                     throttle=Throttle(base_s=0.001, max_s=0.01))
    app = build_app(reader, ledger, commands=publisher, intake=publisher, verify=KEY.verify,
                    command_wait_s=0.05, clock=lambda: NOW, what_if=what_if,
                    webhooks=notifier, sign_in=sign_in)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    _get_portal().call(sign_in.gate.close)
    # the app ran in schemathesis' own event loop: its NATS connections are closed there
    _get_portal().call(publisher.close)
    _get_portal().call(notifier.stop)


async def _streams_declared(js) -> None:
    return None


# An event stream answers with a body that never ends, which an in-process call waits
# for for ever; tests/serve/test_stream.py drives it over a socket, its 4xx included.
ENDLESS = {"GET /stream"}


def test_no_operation_answers_with_a_server_error(api_schema):
    failures, operations, statuses = [], set(), Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations.add(operation.label)
        if operation.label in ENDLESS:
            continue

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
               | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers(case):
            response = case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])
            statuses[response.status_code // 100 * 100] += 1

        try:
            answers()
        except Exception as exc:  # every operation runs; all failures are reported
            failures.append(f"{operation.label}: {exc}")
    described = {f"{method.upper()} {path}" for path, ops in SPEC["paths"].items()
                 for method in ops}
    # schemathesis leaves out the spec's own route
    assert operations == described - {"GET /openapi.json"}
    assert operations >= ENDLESS
    assert statuses[200] > 2 * len(operations), statuses  # the token works, the data is there
    assert not failures, "\n\n".join(failures)
