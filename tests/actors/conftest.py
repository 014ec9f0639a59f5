"""The actors' tests build plants of a few sensors, to keep their stories short; a
facility that small is judged one reading at a time in production (actors/rounds.py,
COLUMN_MIN_SENSORS). Here the columns take every facility, so that what they decide is
compared with `observe` on every story; tests/actors/test_derive_batch.py checks the
production threshold itself."""

import pytest

from plumeline.actors import rounds


@pytest.fixture(autouse=True)
def columns_for_every_facility(monkeypatch):
    monkeypatch.setattr(rounds, "COLUMN_MIN_SENSORS", 1)
