"""Vital signs a crew's monitor sends while transporting. Pure: the random source is passed in.

Each acuity level has a typical adult picture (mean and spread of each measure); a frame is
one noisy reading of it, clamped to physiological bounds and to the VitalsMsg field limits so
the service never refuses it. The pictures follow the NEWS2 bands (Royal College of
Physicians, National Early Warning Score 2, 2017): level I scores high (tachycardia,
hypotension, hypoxia), level IV sits inside the normal bands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dispatch.domain import Acuity


@dataclass(frozen=True, slots=True)
class Picture:
    """Mean and standard deviation of each measure for one acuity level."""

    hr: tuple[float, float]
    sbp: tuple[float, float]
    spo2: tuple[float, float]
    rr: tuple[float, float]
    gcs: tuple[float, float]


# NEWS2 (RCP 2017) bands: hr 51-90, sbp 111-219, spo2 >= 96, rr 12-20 score 0.
PICTURES: dict[Acuity, Picture] = {
    Acuity.I: Picture(hr=(115, 20), sbp=(88, 15), spo2=(88, 4), rr=(26, 5), gcs=(9, 3)),
    Acuity.II: Picture(hr=(98, 15), sbp=(145, 20), spo2=(94, 2), rr=(21, 3), gcs=(14, 1)),
    Acuity.III: Picture(hr=(90, 12), sbp=(132, 15), spo2=(96, 1.5), rr=(18, 2), gcs=(15, 0)),
    Acuity.IV: Picture(hr=(80, 8), sbp=(125, 10), spo2=(98, 1), rr=(15, 2), gcs=(15, 0)),
}


def _draw(rng: random.Random, spec: tuple[float, float], low: int, high: int) -> int:
    return int(min(high, max(low, round(rng.gauss(spec[0], spec[1])))))


def vitals_frame(*, acuity: Acuity, rng: random.Random, call_id: str, msg_id: str,
                 at_iso: str) -> dict[str, Any]:
    """One crew `vitals` frame for a patient of this acuity."""
    p = PICTURES[acuity]
    sbp = _draw(rng, p.sbp, 60, 240)
    # Diastolic about 60% of systolic, never above it (VitalsMsg refuses dbp > sbp).
    dbp = min(sbp - 10, _draw(rng, (sbp * 0.6, 6), 30, 140))
    return {"type": "vitals", "msg_id": msg_id, "call_id": call_id, "at": at_iso,
            "hr": _draw(rng, p.hr, 30, 200), "sbp": sbp, "dbp": dbp,
            "spo2": _draw(rng, p.spo2, 70, 100), "rr": _draw(rng, p.rr, 6, 45),
            "gcs": _draw(rng, p.gcs, 3, 15)}
