"""What triage reads: the call-taker's structured answers and the crew's findings.

Every field is optional: None means "not asked" or "not known", never "no". Labels in
Chinese and English travel with the schema so consoles can render the card from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def _label(zh: str, en: str) -> dict[str, Any]:
    """Bilingual label carried in the JSON schema."""
    return {"label_zh": zh, "label_en": en}


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class Mechanism(StrEnum):
    """Mechanism of injury, as a call-taker or crew can name it."""

    ROAD_TRAFFIC = "road_traffic"  # 车祸, occupant or unknown role
    MOTORCYCLE_OR_BICYCLE = "motorcycle_or_bicycle"
    PEDESTRIAN_STRUCK = "pedestrian_struck"
    FALL = "fall"
    ASSAULT = "assault"
    STAB_OR_GUNSHOT = "stab_or_gunshot"
    CRUSH = "crush"
    BURN = "burn"
    OTHER = "other"


class Injury(StrEnum):
    """Injury patterns; the first nine are the 2021 field-triage red injury patterns."""

    PENETRATING_HEAD_NECK_TORSO = "penetrating_head_neck_torso"
    SKULL_DEFORMITY = "skull_deformity"
    SPINAL_WITH_DEFICIT = "spinal_with_deficit"
    CHEST_WALL_INSTABILITY = "chest_wall_instability"
    PELVIC_FRACTURE = "pelvic_fracture"
    TWO_PROXIMAL_LONG_BONE_FRACTURES = "two_proximal_long_bone_fractures"
    MANGLED_OR_PULSELESS_EXTREMITY = "mangled_or_pulseless_extremity"
    AMPUTATION_PROXIMAL = "amputation_proximal"
    BLEEDING_NEEDS_TOURNIQUET = "bleeding_needs_tourniquet"
    # 2021 red criterion "penetrating ... extremities proximal to the elbow or knee"
    PENETRATING_PROXIMAL_EXTREMITY = "penetrating_proximal_extremity"
    BURN_WITH_TRAUMA = "burn_with_trauma"
    HEAD_STRIKE = "head_strike"
    SINGLE_FRACTURE = "single_fracture"
    MINOR = "minor"


class BookingReason(StrEnum):
    """Why a non-emergency transport is booked."""

    TRANSFER = "transfer"
    DISCHARGE = "discharge"
    DIALYSIS = "dialysis"
    OUTPATIENT = "outpatient"
    MOBILITY = "mobility"


class Avpu(StrEnum):
    ALERT = "alert"
    VOICE = "voice"
    PAIN = "pain"
    UNRESPONSIVE = "unresponsive"


class EcgRhythm(StrEnum):
    SINUS = "sinus"
    SINUS_TACHYCARDIA = "sinus_tachycardia"
    SINUS_BRADYCARDIA = "sinus_bradycardia"
    AF = "af"
    SVT = "svt"
    VT = "vt"
    VF = "vf"
    ASYSTOLE = "asystole"
    PEA = "pea"
    HIGH_GRADE_AV_BLOCK = "high_grade_av_block"
    OTHER = "other"


class Answers(BaseModel):
    """The call-taker's card. Unanswered questions stay None."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # patient
    age_years: float | None = Field(
        None,
        ge=0,
        le=130,
        json_schema_extra=_label("年龄（岁，新生儿用小数）", "Age (years; neonates as fractions)"),
    )
    sex: Sex | None = Field(None, json_schema_extra=_label("性别", "Sex"))
    # primary survey
    conscious: bool | None = Field(
        None, json_schema_extra=_label("有意识吗", "Is the patient conscious?")
    )
    breathing: bool | None = Field(
        None, json_schema_extra=_label("有呼吸吗", "Is the patient breathing?")
    )
    breathing_normally: bool | None = Field(
        None,
        json_schema_extra=_label("呼吸正常吗（无呼吸困难）", "Breathing normally (no difficulty)?"),
    )
    airway_obstructed: bool | None = Field(
        None, json_schema_extra=_label("气道梗阻/噎住", "Choking or airway obstructed?")
    )
    # chest pain
    chest_pain: bool | None = Field(
        None, json_schema_extra=_label("胸痛或胸闷", "Chest pain or tightness?")
    )
    onset_at: AwareDatetime | None = Field(
        None, json_schema_extra=_label("发病时间/最后正常时间", "Symptom onset / last known well")
    )
    # stroke: BE-FAST and 中风120
    facial_droop: bool | None = Field(None, json_schema_extra=_label("口角歪斜", "Facial droop?"))
    arm_weakness: bool | None = Field(
        None, json_schema_extra=_label("单侧肢体无力", "Arm or leg weakness?")
    )
    speech_difficulty: bool | None = Field(
        None, json_schema_extra=_label("言语不清", "Slurred or absent speech?")
    )
    balance_loss: bool | None = Field(
        None, json_schema_extra=_label("突发平衡障碍", "Sudden loss of balance?")
    )
    vision_loss: bool | None = Field(
        None, json_schema_extra=_label("突发视力障碍", "Sudden vision loss?")
    )
    # maternal
    pregnant: bool | None = Field(None, json_schema_extra=_label("是否怀孕", "Pregnant?"))
    gestation_weeks: float | None = Field(
        None, ge=0, le=45, json_schema_extra=_label("孕周", "Weeks of gestation")
    )
    vaginal_bleeding: bool | None = Field(
        None, json_schema_extra=_label("阴道出血", "Vaginal bleeding?")
    )
    in_labour: bool | None = Field(
        None, json_schema_extra=_label("正在分娩/规律宫缩", "In labour?")
    )
    cord_or_limb_presenting: bool | None = Field(
        None, json_schema_extra=_label("脐带或肢体先露", "Cord or limb presenting?")
    )
    # neurological
    seizure: bool | None = Field(None, json_schema_extra=_label("抽搐", "Seizure?"))
    seizure_ongoing: bool | None = Field(
        None, json_schema_extra=_label("仍在抽搐", "Still seizing now?")
    )
    seizure_duration_min: float | None = Field(
        None,
        ge=0,
        le=1440,
        json_schema_extra=_label("抽搐持续时间（分钟）", "Seizure duration (minutes)"),
    )
    # bleeding and injury
    major_bleeding: bool | None = Field(None, json_schema_extra=_label("大出血", "Major bleeding?"))
    mechanism: Mechanism | None = Field(
        None, json_schema_extra=_label("受伤机制", "Mechanism of injury")
    )
    fall_height_m: float | None = Field(
        None, ge=0, le=1000, json_schema_extra=_label("坠落高度（米）", "Fall height (metres)")
    )
    high_risk_crash: bool | None = Field(
        None,
        json_schema_extra=_label(
            "高危车祸（被甩出、车厢严重变形、同车有人死亡、行人/骑车人被抛出或碾压）",
            "High-risk crash (ejection, intrusion, death in vehicle, "
            "pedestrian/rider thrown or run over)",
        ),
    )
    injuries: frozenset[Injury] | None = Field(None, json_schema_extra=_label("伤情", "Injuries"))
    entrapped: bool | None = Field(
        None, json_schema_extra=_label("被困/需破拆解救", "Trapped (needs extrication)?")
    )
    anticoagulated: bool | None = Field(
        None, json_schema_extra=_label("服用抗凝药", "On anticoagulants?")
    )
    severe_pain: bool | None = Field(None, json_schema_extra=_label("剧烈疼痛", "Severe pain?"))
    # non-emergency booking and its red-flag screen
    booking_reason: BookingReason | None = Field(
        None, json_schema_extra=_label("非急救转运事由", "Non-emergency booking reason")
    )
    red_flag_new_symptoms: bool | None = Field(
        None, json_schema_extra=_label("新发或加重的症状", "New or worsening symptoms?")
    )
    red_flag_breathing: bool | None = Field(
        None, json_schema_extra=_label("呼吸困难", "Difficulty breathing?")
    )
    red_flag_chest_pain: bool | None = Field(None, json_schema_extra=_label("胸痛", "Chest pain?"))
    red_flag_confusion: bool | None = Field(
        None, json_schema_extra=_label("新发意识改变", "New confusion or drowsiness?")
    )
    red_flag_bleeding: bool | None = Field(
        None, json_schema_extra=_label("活动性出血", "Active bleeding?")
    )
    red_flag_needs_monitoring: bool | None = Field(
        None,
        json_schema_extra=_label(
            "途中需监护、吸氧加量或静脉用药", "Needs monitoring, extra oxygen or IV drugs en route?"
        ),
    )


class Ecg(BaseModel):
    """A prehospital 12-lead reading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rhythm: EcgRhythm | None = Field(None, json_schema_extra=_label("心律", "Rhythm"))
    st_elevation_leads: frozenset[str] | None = Field(
        None, json_schema_extra=_label("ST段抬高导联", "Leads with ST elevation")
    )
    stemi: bool | None = Field(None, json_schema_extra=_label("STEMI", "STEMI?"))
    image_ref: str | None = Field(
        None, max_length=500, json_schema_extra=_label("心电图图像", "ECG image reference")
    )


class StrokeScale(BaseModel):
    """The crew's stroke examination."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lams: int | None = Field(None, ge=0, le=5, json_schema_extra=_label("LAMS评分", "LAMS score"))
    race: int | None = Field(None, ge=0, le=9, json_schema_extra=_label("RACE评分", "RACE score"))
    facial_droop: bool | None = Field(None, json_schema_extra=_label("口角歪斜", "Facial droop"))
    arm_weakness: bool | None = Field(None, json_schema_extra=_label("肢体无力", "Arm weakness"))
    speech_difficulty: bool | None = Field(
        None, json_schema_extra=_label("言语不清", "Speech difficulty")
    )
    balance_loss: bool | None = Field(None, json_schema_extra=_label("平衡障碍", "Balance loss"))
    vision_loss: bool | None = Field(None, json_schema_extra=_label("视力障碍", "Vision loss"))


class Findings(BaseModel):
    """What the crew measured and saw; newer than the call, so it wins where both speak."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hr: int | None = Field(None, ge=0, le=350, json_schema_extra=_label("心率", "Heart rate /min"))
    sbp: int | None = Field(
        None, ge=0, le=350, json_schema_extra=_label("收缩压", "Systolic BP mmHg")
    )
    dbp: int | None = Field(
        None, ge=0, le=250, json_schema_extra=_label("舒张压", "Diastolic BP mmHg")
    )
    spo2: int | None = Field(None, ge=0, le=100, json_schema_extra=_label("血氧饱和度", "SpO2 %"))
    rr: int | None = Field(
        None, ge=0, le=150, json_schema_extra=_label("呼吸频率", "Respiratory rate /min")
    )
    temp_c: float | None = Field(
        None, ge=20, le=45, json_schema_extra=_label("体温", "Temperature °C")
    )
    gcs: int | None = Field(
        None, ge=3, le=15, json_schema_extra=_label("GCS评分", "Glasgow Coma Scale")
    )
    gcs_motor: int | None = Field(
        None, ge=1, le=6, json_schema_extra=_label("GCS运动评分", "GCS motor")
    )
    avpu: Avpu | None = Field(None, json_schema_extra=_label("AVPU", "AVPU"))
    glucose_mmol: float | None = Field(
        None, ge=0, le=100, json_schema_extra=_label("血糖", "Glucose mmol/L")
    )
    pain: int | None = Field(
        None, ge=0, le=10, json_schema_extra=_label("疼痛评分", "Pain score 0-10")
    )
    ecg: Ecg | None = Field(None, json_schema_extra=_label("心电图", "12-lead ECG"))
    stroke: StrokeScale | None = Field(None, json_schema_extra=_label("卒中评估", "Stroke scale"))
    last_known_well: AwareDatetime | None = Field(
        None, json_schema_extra=_label("最后正常时间", "Last known well")
    )
    first_medical_contact: AwareDatetime | None = Field(
        None, json_schema_extra=_label("首次医疗接触时间", "First medical contact")
    )
    injuries: frozenset[Injury] | None = Field(None, json_schema_extra=_label("伤情", "Injuries"))
    mechanism: Mechanism | None = Field(
        None, json_schema_extra=_label("受伤机制", "Mechanism of injury")
    )
    treatments: tuple[str, ...] | None = Field(
        None, json_schema_extra=_label("已给予处置", "Treatments given")
    )
