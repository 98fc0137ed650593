"""`BusEvent`: the one shape of a notification on the bus, written and read the same way everywhere."""

from __future__ import annotations

import orjson
import pytest

from db.events import MAX_PAYLOAD, BusEvent


def test_an_event_reads_back_as_written_and_leaves_empty_fields_out():
    # given events of each kind the publishers send
    one = BusEvent("company:c:incidents", kind="RESOLVED", id="i-1")
    many = BusEvent("company:c:alerts", kind="RECEIVED", ids=("a-1", "a-2"))
    batch = BusEvent("company:c:incidents", changes=(("i-1", "CREATED"), ("i-2", "UPDATED")))
    bare = BusEvent("system:reactions")

    # then each is its JSON's event, with only the fields it carries
    for event in (one, many, batch, bare):
        assert BusEvent.from_json(event.to_json()) == event
    assert orjson.loads(one.to_json()) == {"topic": "company:c:incidents", "kind": "RESOLVED", "id": "i-1"}
    assert orjson.loads(batch.to_json()) == {
        "topic": "company:c:incidents",
        "changes": [["i-1", "CREATED"], ["i-2", "UPDATED"]],
    }
    assert bare.to_json() == '{"topic":"system:reactions"}'


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"kind": "CREATED"}',
        '{"topic": 7}',
        '{"topic": "t", "id": 7}',
        '{"topic": "t", "ids": "a-1"}',
        '{"topic": "t", "changes": [["i-1"]]}',
        '{"topic": "t", "changes": [[1, "CREATED"]]}',
    ],
)
def test_a_payload_that_is_no_event_is_not_read_as_one(payload):
    assert BusEvent.from_json(payload) is None


def test_an_event_too_large_for_notify_is_refused_before_it_is_sent():
    with pytest.raises(ValueError, match="too large"):
        BusEvent("t", ids=tuple("x" * 36 for _ in range(MAX_PAYLOAD // 36))).to_json()
