"""What a dispatcher should be told before an override goes through. Pure values, no I/O.

An override is the dispatcher's call and is never refused for cover: the automatic
ranking keeps a district's last emergency unit for the critical (dispatch.geo.policy.
keep_reserve), a person may decide otherwise, but is told so and the warning is recorded
with the assignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatch.domain import EMERGENCY_KINDS, VehicleKind, VehicleStatus


def override_warnings(
    *,
    vehicle: Mapping[str, Any],
    available_by_district: Mapping[str, int],
    district_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Warnings (zh-CN and English) for sending `vehicle` (a dispatch.db.fleet row).

    `available_by_district`: available emergency vehicles per home-station district,
    counted before the claim (dispatch.db.fleet.available_by_district).
    """
    district = vehicle["station_district_id"]
    if (district is None or vehicle["status"] != VehicleStatus.AVAILABLE.value
            or VehicleKind(vehicle["kind"]) not in EMERGENCY_KINDS
            or available_by_district.get(district, 0) > 1):
        return []
    name = district_names.get(district, district)
    vid = vehicle["id"]
    return [{
        "code": "last_emergency_vehicle_of_district",
        "vehicle_id": vid,
        "district_id": district,
        "zh": f"{vid} 是{name}最后一辆可用的急救车，派出后该区暂无急救车待命。",
        "en": f"{vid} is the last available emergency vehicle of {name}; "
              "sending it leaves the district without one.",
    }]
