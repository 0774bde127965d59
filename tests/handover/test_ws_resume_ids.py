"""A resume id that is not a stream id is refused, never accepted into silence."""

from __future__ import annotations

import pytest

from dispatch.domain import Role
from dispatch.realtime.channels import valid_event_id
from tests.handover.test_ws_auth import _closed_with
from tests.handover.wsclient import cluster, recv, send

BAD_IDS = ["abc", "-1", "1%00", "1-", "-", "", "１２", "1-2-3", "18446744073709551616",
           "1-18446744073709551616", "9" * 5000]


def test_valid_event_id_takes_redis_stream_ids_only() -> None:
    assert valid_event_id("0") and valid_event_id("0-0") and valid_event_id("1700000000000-5")
    assert valid_event_id("18446744073709551615-18446744073709551615")
    for bad in [*BAD_IDS, "1\x00", " 1", "+1"]:
        assert not valid_event_id(bad.replace("%00", "\x00")), bad


async def test_malformed_last_event_id_closes_every_channel_with_1008_naming_it() -> None:
    async with cluster(1) as c:
        tokens = {"hospital": c.token(Role.HOSPITAL, hospital_id="H1"),
                  "console": c.token(Role.DISPATCHER),
                  "crew": c.token(Role.CREW, vehicle_id="V0000")}
        for channel, token in tokens.items():
            for bad in BAD_IDS:
                code, why = await _closed_with(c.ws_url(0, channel, token=token,
                                                        last_event_id=bad))
                assert code == 1008, (channel, bad, code, why)
                assert "last_event_id" in why, (channel, bad, why)
        # a well-formed id still resumes
        async with c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1",
                        last_event_id="0-0") as screen:
            assert (await recv(screen))["type"] == "snapshot"


@pytest.mark.parametrize("bad", ["18446744073709551616", "1-18446744073709551616"])
async def test_a_resume_frame_out_of_range_is_refused_and_the_link_stays_open(bad: str) -> None:
    async with cluster(1) as c, c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as screen:
        assert (await recv(screen))["type"] == "snapshot"
        await send(screen, {"type": "resume", "last_event_id": bad})
        refused = await recv(screen)
        assert refused["type"] == "error" and refused["code"] == 1007, refused
        assert refused["field"] == "last_event_id"
        await send(screen, {"type": "resume", "last_event_id": "0-0"})
        assert (await recv(screen))["type"] == "snapshot"
