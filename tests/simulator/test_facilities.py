import re

import pytest

from plumeline.simulator import CCS, FACTORY, TEMPLATES, facility_ids, facility_kinds

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ROLES = {"emitted", "captured", "stored", "vented", "process"}


@pytest.mark.parametrize("template", [CCS, FACTORY], ids=lambda t: t.kind)
@pytest.mark.parametrize("n", [1, 4, 9, 12, 150])
def test_sensor_ids_are_valid_unique_names(template, n):
    sensors = template.instances(n)
    names = [s.sensor for s in sensors]
    assert len(names) == n
    assert len(set(names)) == n
    assert all(NAME.match(name) for name in names)
    assert {s.role for s in sensors} <= ROLES


def test_a_facility_has_the_first_n_sensors_in_template_order():
    assert [s.sensor for s in CCS.instances(3)] == ["flue_gas_co2", "co2_captured", "capture_rate"]
    assert [s.sensor for s in FACTORY.instances(6)] == [
        "stack_co2",
        "nox",
        "fuel_flow",
        "pm25",
        "pm25_2",
        "nox_2",
    ]


def test_ccs_template_holds_the_capture_chain_with_roles():
    roles = {s.sensor: (s.role, s.unit) for s in CCS.sensors}
    assert roles["flue_gas_co2"] == ("emitted", "t/h")
    assert roles["co2_captured"] == ("captured", "t/h")
    assert roles["co2_injected"] == ("stored", "t/h")
    assert roles["co2_vented"] == ("vented", "t/h")
    assert roles["capture_rate"] == ("process", "%")


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=lambda t: t.kind)
def test_extra_sensors_never_count_a_co2_flow_twice(template):
    base = len(template.sensors)
    extras = template.instances(base + 40)[base:]
    assert all(s.role == "process" for s in extras)
    # an extra instance reads the same physical channel as its original
    assert all(s.channel == s.sensor.rsplit("_", 1)[0] for s in extras)


def test_fleet_is_mostly_capture_plants_with_sortable_ids():
    kinds = facility_kinds(8)
    assert kinds.count("ccs") == 6 and kinds.count("factory") == 2
    assert facility_ids(kinds)[:3] == ["ccs-01", "factory-02", "ccs-03"]
    big = facility_ids(facility_kinds(1500))
    numbers = [f.rsplit("-", 1)[1] for f in big]
    assert big[0] == "ccs-0001" and numbers == sorted(numbers) and len(set(numbers)) == 1500
    assert all(NAME.match(f) for f in big)


def test_a_facility_needs_a_sensor():
    with pytest.raises(ValueError, match="at least one sensor"):
        CCS.instances(0)
