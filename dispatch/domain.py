"""The nouns of dispatch: enumerations and small value types shared by every domain.

Pure values only; no I/O. Names follow the call chain in the project's mission
(`call_received` ... `cleared`, matching NEMSIS v3 eTimes where one exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Acuity(IntEnum):
    """China's four-level emergency patient grading (lower is sicker)."""

    I = 1  # 濒危 dying  # noqa: E741
    II = 2  # 危重 critical
    III = 3  # 急症 urgent
    IV = 4  # 非急症 non-urgent


class TransportClass(StrEnum):
    EMERGENCY = "emergency"
    NON_EMERGENCY = "non_emergency"


# The clinical vocabulary. A new pathway or specialist service is added here, then given its
# clinical rules (dispatch/triage/tables: the rules that raise the need, destination.json's
# need -> capability and fallback, protocol.json's team order). Reference data, the
# handover frames, the protocol's checks and destination choice read these enumerations;
# tests/test_vocabulary.py holds the tables and the screens' lists and labels to them.


class Pathway(StrEnum):
    """The five specialist centres of the national plans."""

    CHEST_PAIN = "chest_pain"
    STROKE = "stroke"
    TRAUMA = "trauma"
    MATERNAL = "maternal"
    PAEDIATRIC = "paediatric"


class Capability(StrEnum):
    """What a receiving hospital can do: listed in its reference data (hospitals.capabilities),
    diverted or reported unavailable by its centre, and what triage's needs map onto.

    ED is the emergency department every hospital has: never listed, but a centre may
    divert it (then it takes nobody)."""

    ED = "ed"
    PCI = "pci"
    THROMBOLYSIS = "thrombolysis"
    THROMBECTOMY = "thrombectomy"
    MATERNAL = "maternal"
    PAEDIATRIC = "paediatric"
    NEONATAL = "neonatal"
    TRAUMA = "trauma"


# What a hospital's reference data may list.
LISTED_CAPABILITIES: tuple[Capability, ...] = tuple(c for c in Capability if c is not Capability.ED)

# Chinese names of the capabilities, for what a crew or a centre reads (refusals).
CAPABILITY_ZH: dict[Capability, str] = {
    Capability.ED: "急诊科",
    Capability.PCI: "急诊PCI（导管室）",
    Capability.THROMBOLYSIS: "静脉溶栓",
    Capability.THROMBECTOMY: "血管内取栓",
    Capability.TRAUMA: "创伤中心",
    Capability.MATERNAL: "危重孕产妇救治",
    Capability.PAEDIATRIC: "儿科急诊",
    Capability.NEONATAL: "危重新生儿救治",
}


class Need(StrEnum):
    """What a triage result asks of the receiving hospital (a rule's `needs`).

    Most specific first: destination choice names, and falls back from, the first unmet
    need in this order. tables/destination.json maps each to a capability (trauma needs
    with the lowest trauma level that serves) and to the need it falls back to."""

    PCI = "pci"
    THROMBECTOMY = "thrombectomy"
    THROMBOLYSIS = "thrombolysis"
    TRAUMA_1 = "trauma_1"
    TRAUMA_2 = "trauma_2"
    NEONATAL = "neonatal"
    MATERNAL = "maternal"
    PAEDIATRIC = "paediatric"
    ED = "ed"  # any emergency department: every call to hospital needs one


class Team(StrEnum):
    """Teams a receiving centre activates ahead of arrival (三通三联, the five centres)."""

    CATH_LAB = "cath_lab"
    STROKE_TEAM = "stroke_team"
    TRAUMA_TEAM = "trauma_team"
    OBSTETRIC = "obstetric"
    NEONATAL = "neonatal"


# The team each specialist centre activates for its pathway (the ED board suggests it).
CENTRE_TEAMS: dict[Pathway, tuple[Team, ...]] = {
    Pathway.CHEST_PAIN: (Team.CATH_LAB,),
    Pathway.STROKE: (Team.STROKE_TEAM,),
    Pathway.TRAUMA: (Team.TRAUMA_TEAM,),
    Pathway.MATERNAL: (Team.OBSTETRIC,),
    Pathway.PAEDIATRIC: (Team.NEONATAL,),
}


class VehicleKind(StrEnum):
    ALS = "als"  # advanced life support ambulance (physician or paramedic crew)
    BLS = "bls"  # basic life support ambulance
    NET = "net"  # non-emergency transport vehicle, own fleet


EMERGENCY_KINDS: frozenset[VehicleKind] = frozenset({VehicleKind.ALS, VehicleKind.BLS})


class VehicleStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    RETURNING = "returning"
    OUT_OF_SERVICE = "out_of_service"


class CallStatus(StrEnum):
    QUEUED = "queued"  # waiting for a suitable vehicle
    ASSIGNED = "assigned"  # a vehicle is claimed and ordered to the call
    ACTIVE = "active"  # the vehicle is rolling / on scene / transporting
    CLOSED = "closed"
    CANCELLED = "cancelled"


# calls still to be served: fixes, re-triage, dispatch and cancel apply only to these
LIVE_STATUSES = [CallStatus.QUEUED.value, CallStatus.ASSIGNED.value, CallStatus.ACTIVE.value]


class FixSource(StrEnum):
    AML = "aml"
    GNSS = "gnss"
    CELL = "cell"
    WIFI = "wifi"
    MANUAL = "manual"  # a dispatcher's map pin
    ADDRESS = "address"  # a geocoded spoken address


class CoordSystem(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


class EventKind(StrEnum):
    """Timeline events. The first block are the mission's clocks."""

    CALL_RECEIVED = "call_received"
    CALL_ANSWERED = "call_answered"
    LOCATION_FIXED = "location_fixed"
    TRIAGED = "triaged"
    DISPATCHED = "dispatched"
    DEPARTED = "departed"
    ON_SCENE = "on_scene"
    PATIENT_CONTACT = "patient_contact"
    LEFT_SCENE = "left_scene"
    AT_DESTINATION = "at_destination"
    HANDOVER = "handover"
    CLEARED = "cleared"
    # operational events around the clocks
    QUEUED = "queued"
    LOCATION_UPDATED = "location_updated"
    RECOMMENDED = "recommended"
    UNASSIGNED = "unassigned"
    CANCELLED = "cancelled"
    RETRIAGED = "retriaged"
    DESTINATION_CHOSEN = "destination_chosen"
    # the same centre stands, for other needs or reasons (a re-triage): recorded, no re-route
    DESTINATION_REVIEWED = "destination_reviewed"
    CENTRE_ALERTED = "centre_alerted"
    CENTRE_ACKNOWLEDGED = "centre_acknowledged"
    TEAM_ACTIVATED = "team_activated"
    MOVE_UP = "move_up"
    BOOKED = "booked"  # a non-emergency booking planned onto a vehicle
    OUT_OF_AREA = "out_of_area"  # located outside every district of the centre


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    CREW = "crew"
    HOSPITAL = "hospital"
    ADMIN = "admin"
    GATEWAY = "gateway"  # the carrier's AML gateway: may only post location messages
    AUDITOR = "auditor"  # reads the audit log, never patient data


# Vehicle status reported by a crew -> the timeline clock it stamps.
STATUS_EVENT: dict[VehicleStatus, EventKind] = {
    VehicleStatus.EN_ROUTE: EventKind.DEPARTED,
    VehicleStatus.ON_SCENE: EventKind.ON_SCENE,
    VehicleStatus.TRANSPORTING: EventKind.LEFT_SCENE,
    VehicleStatus.AT_HOSPITAL: EventKind.AT_DESTINATION,
}


@dataclass(frozen=True, slots=True)
class LonLat:
    """A WGS-84 point in degrees."""

    lon: float
    lat: float
