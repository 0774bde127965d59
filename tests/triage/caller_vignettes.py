"""Caller vignettes: the complaint as a 120 call-taker types it (mostly Chinese), with the
primary-survey answers every call asks, and the accepted outcome.

Each row: card, complaint text, answers preset, accepted levels, pathway, destination
needs that must be present, source key. The accepted levels come from the source's
criteria applied to the presentation (several levels where the source leaves room);
they are written from the published descriptions and guidelines in SOURCES, not from
the engine's output. Rows the engine gets wrong are kept, with `gap` saying why, so the
measurement in docs/triage.md counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# primary survey the call-taker always asks (有意识吗? 有呼吸吗?)
P: dict[str, Any] = {"conscious": True, "breathing": True}
NONE: dict[str, Any] = {}
SCREEN_CLEAR: dict[str, Any] = {
    "red_flag_new_symptoms": False, "red_flag_breathing": False, "red_flag_chest_pain": False,
    "red_flag_confusion": False, "red_flag_bleeding": False, "red_flag_needs_monitoring": False,
}

SOURCES = {
    "GRD": "急诊预检分诊专家共识 (2018) table 1 and 急诊病人病情分级试点指导原则 (2011): "
           "level I 濒危, II 危重 (incl. severe pain 7-10), III 急症, IV 非急症",
    "ARREST": "GRADING_2011 (心跳呼吸骤停 = level I); T-CPR cases: Yichang 80-y arrest "
              "(artsbj.cn/shehui/283855.html), Hangzhou 吴山 collapse (0471tv.org.cn, 2023-03-28), "
              "Huludao 2018 transcript (hongniuke.com, 2018-06-09)",
    "CHOKE": "Kaifeng preterm infant choking on milk, 脸色发乌 "
             "(163.com/dy/article/KIMCE5TN0556IRXW)",
    "BEIJING": "Beijing 120 night shift: haematemesis near shock, dyspnoea, intoxication "
               "(handmsg.com/page/2021/0825/8812497.shtml)",
    "ACS": "CSC STEMI guideline 2019 / chest pain centre practice: adult chest pain is "
           "suspected ACS, level II, PCI-capable centre",
    "STROKE": "BE-FAST / 中风120; 中国急性缺血性脑卒中诊治指南 2018 (window from last known well)",
    "FT21": "National Guideline for the Field Triage of Injured Patients 2021 (red / yellow)",
    "MAT": "危重孕产妇救治中心建设与管理指南 2018; 妊娠期高血压疾病诊治指南 2020",
    "PALS": "AHA PALS 2020 normal ranges; NICE NG143 fever in under 5s; "
            "危重新生儿救治中心指南 2018",
    "ILAE": "ILAE 2015: seizure of 5 minutes or more is status epilepticus",
    "SEP3": "Sepsis-3 qSOFA >= 2; shock index >= 1.0",
    "CBD": "Danish Criteria Based Dispatch: booking only after a negative red-flag screen",
    "MPDS": "MPDS 17-D-1: extreme fall >= 30 ft (10 m) is a Delta determinant "
            "(StatResp/nfd-dashboard codes.md)",
    "ABA": "ABA Guidelines for Burn Patient Referral (ameriburn.org): partial thickness >= 10% "
           "TBSA, inhalation injury, hands / feet / genitalia / joints, chemical, electrical",
    "FALL_NEWS": "Mianyang worker fell 6 floors installing an air conditioner, face bloody "
                 "(lingtekeji.com/post/1796.html); Fuzhou man fell from the 4th floor onto a "
                 "2nd-floor canopy, lucid (chinanews via johnnytowncar.com news41187); Suzhou "
                 "hiker fell from a 6 m cliff, lucid, back pain (f2djj.com/jj/2023/0829/85580)",
    "CO_NEWS": "Wenzhou 120 call, coal stove heating, chest tightness and vomiting "
               "(163.com/dy/article/KIOAR9TH0552F9B0); Dazhou family of six, a child could "
               "not be woken (qx.schrlc.cn thread 267187); Yichang charcoal heating cases "
               "(digipub.cc KK26LT0C0514MI6D)",
    "HEAT_NEWS": "Liaocheng loader 40+ C, Yantai ship-hold porter 42 C, fitting "
                 "(zibizhengw.cn/jiankang/323726.html); Xi'an builder after 9 h in the heat "
                 "(canyinms.com/article/68882.html)",
    "WASP_NEWS": "Hangzhou family stung by hornets, chest tightness and palpitations "
                 "(163.com/dy/article/KBSB1SGC05149FJ6); Guiyang man, 40+ stings, multi-organ "
                 "failure while still talking (Guizhou Commercial News via tvboxnow 3736105)",
    "WAO": "WAO Anaphylaxis Guidance 2020 criteria (skin signs with respiratory compromise, "
           "reduced BP / collapse, or severe GI symptoms)",
    "SAH": "中国蛛网膜下腔出血诊治指南2019; 动脉瘤性SAH诊疗指导规范2018 (sudden, worst, explosive)",
    "AORTIC": "Acute aortic dissection: sudden severe tearing pain (主动脉夹层 consensus 2017)",
    "SWISS": "Swiss hypothermia staging (ERC 2021): reduced consciousness is HT II or worse",
    "DROWN": "Drowning with cough, breathlessness or altered mentation needs hospital care "
             "(ERC 2021; WMS 2019)",
    "POISON": "急性中毒诊断与治疗中国专家共识 (中华急诊医学杂志 2016;25(11)); paraquat and "
              "organophosphate case fatality (中华急诊医学杂志 2017;26(11) and 2020 herbicide "
              "consensus): lethal whatever the state at the call",
}


@dataclass(frozen=True)
class CV:
    card: str
    text: str
    answers: dict[str, Any]
    levels: frozenset[int]
    pathway: str | None
    needs: frozenset[str]
    source: str
    booking: bool = False
    gap: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def cv(card: str, text: str, answers: dict[str, Any], levels: set[int] | int,
       pathway: str | None = None, needs: set[str] | None = None, source: str = "GRD",
       gap: str | None = None) -> CV:
    lv = frozenset({levels} if isinstance(levels, int) else levels)
    booked = "booking_reason" in answers and lv == {4}
    need = frozenset(needs) if needs is not None else frozenset() if booked else frozenset({"ed"})
    return CV(card, text, answers, lv, pathway, need, source, gap=gap,
              booking="booking_reason" in answers)


CP, ST, TR, MA, PA = "chest_pain", "stroke", "trauma", "maternal", "paediatric"

ZH: list[CV] = [
    # --- cardiac / respiratory arrest
    cv("arrest", "老人突然倒地，叫不醒，没有呼吸", NONE, 1, source="ARREST"),
    cv("arrest", "我爸在家突然倒下了，喊他没反应，也不喘气了", NONE, 1, source="ARREST"),
    cv("arrest", "人没气了，快来", NONE, 1, source="ARREST"),
    cv("arrest", "家属正在做心肺复苏", NONE, 1, source="ARREST"),
    cv("arrest", "游客爬山时突然倒地，没有意识，没有呼吸", NONE, 1, source="ARREST"),
    cv("arrest", "80岁老人心脏骤停，邻居在按压", NONE, 1, source="ARREST"),
    cv("arrest", "男的，50多岁，吃饭时突然倒地，呼吸心跳停止", NONE, 1, source="ARREST"),
    cv("arrest", "倒地后只有叹气样呼吸，叫不醒", NONE, 1, source="ARREST"),
    cv("arrest", "摸不到脉搏，嘴唇发紫，叫不醒", NONE, 1, source="ARREST"),
    cv("arrest", "老伴早上起来发现叫不醒，身子都凉了", NONE, 1, source="ARREST"),
    cv("arrest", "我妈倒在卫生间，没有心跳了", NONE, 1, source="ARREST"),
    cv("arrest", "打球的时候突然倒下，猝死了", NONE, 1, source="ARREST"),
    cv("arrest", "小孩溺水捞上来，没有呼吸", NONE, 1, PA, source="ARREST"),
    cv("arrest", "俺爹没气了，身上还是热的", NONE, 1, source="ARREST"),
    cv("arrest", "呼吸心跳都没了，我们在做人工呼吸", NONE, 1, source="ARREST"),
    # --- unconscious / fainting
    cv("unconscious", "老人无缘无故晕倒，叫不醒，还有呼吸", NONE, 1),
    cv("unconscious", "喝了很多酒，现在叫不醒，有呼吸", NONE, 1, source="BEIJING"),
    cv("unconscious", "糖尿病人昏迷，还有呼吸", NONE, 1),
    cv("unconscious", "低血糖，意识不清", NONE, {1, 2}),
    cv("unconscious", "叫她没反应，呼吸很弱", NONE, 1),
    cv("unconscious", "我妈突然不省人事了", NONE, 1),
    cv("unconscious", "人倒地上不动了，喊不醒", NONE, 1),
    cv("unconscious", "俺爹晕过去了叫不醒", NONE, 1),
    cv("unconscious", "患者神志不清，GCS 7分", NONE, 1),
    cv("unconscious", "晕倒了，现在已经醒了，能说话", NONE, {3, 4}),
    cv("unconscious", "刚才晕了一下，现在神志清楚，呼吸正常", NONE, {3, 4}),
    cv("unconscious", "吃了一瓶安眠药，叫不醒", NONE, 1),
    # --- breathing problems
    cv("breathing", "上不来气，嘴唇发紫", P, 2),
    cv("breathing", "老慢支又犯了，喘不上气，血氧85", P, 2),
    cv("breathing", "哮喘发作，话都说不完整", P, 2),
    cv("breathing", "喘得很厉害，不能平躺，咳粉红色泡沫痰", P, 2),
    cv("breathing", "气促，SpO2 75", P, 1),
    cv("breathing", "呼吸困难，心率130，血压80/50", P, 2),
    cv("breathing", "老人憋气，血氧88", P, 2),
    cv("breathing", "一直喘，呼吸30次", P, 2),
    cv("breathing", "透不过气来，胸口发紧", P, 2, CP),
    cv("breathing", "气急得很，讲话都费劲", P, 2),
    cv("breathing", "喘不动了，脸色发青", P, 2),
    cv("breathing", "呼吸好快，嘴唇紫了", P, 2),
    cv("breathing", "感冒咳嗽三天，没有呼吸困难，没有胸痛", P, {3, 4}),
    cv("breathing", "慢阻肺急性加重，指脉氧82", P, 2),
    cv("breathing", "心衰又犯了，晚上躺不下", P, 2),
    # --- chest pain
    cv("chest_pain", "胸口压着痛，出冷汗，60岁", P, 2, CP, source="ACS"),
    cv("chest_pain", "心梗，含了硝酸甘油不缓解", P, 2, CP, source="ACS"),
    cv("chest_pain", "我爸有冠心病，今天胸口疼到后背", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸闷气短半小时，58岁", P, 2, CP, source="ACS"),
    cv("chest_pain", "心口痛，疼到左胳膊", P, 2, CP, source="ACS"),
    cv("chest_pain", "女，70岁，胸部不适，恶心", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸痛，心率40", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸痛，血压60/40", P, 1, CP, source="ACS"),
    cv("chest_pain", "16岁学生胸口疼", P, {2, 3}, CP, source="ACS"),
    cv("chest_pain", "胸痛彻背，撕裂样疼痛", P, {1, 2}, CP, source="ACS"),
    cv("chest_pain", "心脏病犯了，吃了速效救心丸", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸口像压了块石头，喘不过气", P, 2, CP, source="ACS"),
    cv("chest_pain", "心前区疼痛，大汗淋漓", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸口闷得慌，55岁，有高血压", P, 2, CP, source="ACS"),
    cv("chest_pain", "心脏不舒服，出冷汗", P, 2, CP, source="ACS"),
    cv("chest_pain", "前胸痛一个小时了，男，62岁", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸口绞痛，心率150", P, 2, CP, source="ACS"),
    cv("chest_pain", "心肌梗死病史，又胸痛了", P, 2, CP, source="ACS"),
    cv("chest_pain", "男，60岁，胸口压榨样疼痛半小时，出冷汗", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸骨后压榨感，持续二十分钟不缓解", P, 2, CP, source="ACS"),
    cv("chest_pain", "胸口闷痛，出了一身汗", P, 2, CP, source="ACS"),
    # --- stroke
    cv("stroke", "80多岁老人，突然说话不清，右边手没力气", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "早上起来嘴歪了，左边手抬不起来", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "中风了，半边身子不能动", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "突然口齿不清，走路不稳", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "脑梗又犯了", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "老人突然一只眼看不见，头晕站不稳", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "说话含糊，嘴角流口水", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "一侧肢体无力，发病1小时", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "右侧肢体麻木，说话不清楚，血压200/110", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "脑出血，昏迷", NONE, 1, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "嘴巴歪了，讲话不清楚", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "手脚不听使唤，说不出话来", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "半边脸麻，左手拿不住东西", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "小中风，手麻", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "脑溢血，人还清醒", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "吃饭时筷子掉了，嘴角歪了", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "突然看东西重影，走路像喝醉了", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "突发剧烈头痛，这辈子最痛，吐了", P, {1, 2}, source="STROKE"),
    # --- seizure
    cv("seizure", "小儿高热抽搐", NONE, 2, PA, {"paediatric"}, "PALS"),
    cv("seizure", "3岁小孩发烧39.5度，抽了5分钟还在抽", NONE, 1, PA, {"paediatric"}, "ILAE"),
    cv("seizure", "羊癫疯犯了，口吐白沫，现在不抽了", P, {2, 3}, source="ILAE"),
    cv("seizure", "一直在抽，已经抽了10分钟", NONE, 1, source="ILAE"),
    cv("seizure", "癫痫病人抽了两次，还在抽", NONE, {1, 2}, source="ILAE"),
    cv("seizure", "孕妇抽搐", NONE, {1, 2}, MA, {"maternal"}, "MAT"),
    cv("seizure", "8个月大的宝宝发烧抽搐", NONE, 2, PA, {"paediatric"}, "PALS"),
    cv("seizure", "新生儿抽搐", NONE, 2, PA, {"neonatal"}, "PALS"),
    cv("seizure", "喝酒后抽风，现在醒了，能说话", NONE, {2, 3}, source="ILAE"),
    cv("seizure", "抽筋一样全身抽动，两眼上翻，已经停了", P, {2, 3}, source="ILAE"),
    # --- haemorrhage
    cv("haemorrhage", "流血不止", P, 2),
    cv("haemorrhage", "吐血，吐了很多血，脸色发白", P, 2, source="BEIJING"),
    cv("haemorrhage", "吐血，心率130，血压85/60", P, 2, source="BEIJING"),
    cv("haemorrhage", "手被玻璃割了，血往外喷", P, 2),
    cv("haemorrhage", "鼻血止不住，在吃华法林", P, 2),
    cv("haemorrhage", "便血很多，头晕", P, 2),
    cv("haemorrhage", "伤口一直在流血，压不住血", P, 2),
    cv("haemorrhage", "大口吐血，满地是血", P, {1, 2}, source="BEIJING"),
    # --- pregnancy / childbirth
    cv("maternal", "孕妇大出血", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "孕32周，肚子一阵一阵疼，破水了", P, 2, MA, {"maternal", "neonatal"}, "MAT"),
    cv("maternal", "怀孕七个多月，下面流血", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "要生了，孩子头出来了", P, {2, 3}, MA, {"maternal"}, "MAT"),
    cv("maternal", "羊水破了，看到脐带", P, 2, MA, {"maternal", "neonatal"}, "MAT"),
    cv("maternal", "孕36周，血压170/110，头痛", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "产后大出血", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "孕38周，宫缩规律，没有出血", P, 3, MA, {"maternal"}, "MAT"),
    cv("maternal", "先兆流产，下身出血", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "怀孕30周，出车祸了", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("maternal", "宫外孕，肚子疼得厉害", P, {1, 2}, source="MAT"),
    cv("maternal", "临产，孕34周，见红很多", P, 2, MA, {"maternal", "neonatal"}, "MAT"),
    cv("maternal", "孕妇流血不止，怀孕5个月", P, 2, MA, {"maternal"}, "MAT"),
    # --- trauma: traffic
    cv("traffic", "车祸，人被卡在车里出不来", P, 2, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "电动车被汽车撞了，腿骨折，人清醒", P, {3, 4}, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "行人被车撞飞了，人是醒的", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "高速车祸，车头变形，司机昏迷", NONE, 1, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "两车相撞，一人头破了，能说话", P, {3, 4}, TR, source="FT21"),
    cv("traffic", "摩托车摔了，GCS 9", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "车祸，血压80/50，心率130", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "翻车了，被甩出车外，人还清醒", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "被车碾压，腿压烂了", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "追尾，脖子有点疼，自己下车了", P, {3, 4}, TR, source="FT21"),
    cv("traffic", "交通事故，骨盆骨折", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "出车祸了，呼吸很快，喘不上气", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "货车翻了，司机被困，叫不醒", NONE, 1, TR, {"trauma_1"}, "FT21"),
    # --- trauma: falls
    cv("fall", "从三楼摔下来，人是醒的", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("fall", "工人从脚手架上摔下来，叫不醒", NONE, 1, TR, {"trauma_1"}, "FT21"),
    cv("fall", "老人在家摔倒，头着地，吃华法林", P, 3, TR, {"trauma_2"}, "FT21"),
    cv("fall", "80岁老太太摔倒，起不来", P, {3, 4}, None, source="FT21"),
    cv("fall", "小孩从床上掉下来，大声哭", P, {3, 4}, TR, source="FT21"),
    cv("fall", "从6楼跳下来，人是醒的", P, {1, 2}, TR, {"trauma_2"}, "MPDS"),
    cv("fall", "从梯子上摔下来，两米，手腕骨折", P, {3, 4}, None, source="FT21"),
    cv("fall", "滑倒了，崴了脚", P, 4, None, source="GRD"),
    cv("fall", "摔了一跤，膝盖擦破", P, 4, None, source="GRD"),
    cv("fall", "老人摔倒，叫不醒", NONE, 1, TR, {"trauma_1"}, "FT21"),
    cv("fall", "从楼梯上滚下来，头摔破了，70岁", P, 3, TR, {"trauma_2"}, "FT21"),
    cv("fall", "从5米高的地方摔下来，腰疼", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("fall", "高处坠落，骨盆骨折，血压85/50", P, 2, TR, {"trauma_1"}, "FT21"),
    # --- trauma: stab / assault / burns
    cv("assault", "被刀捅伤", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("assault", "肚子被捅了，流了很多血", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("assault", "打架，大腿被捅了一刀", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("assault", "被人打了，头破了，能说话", P, {3, 4}, None, source="FT21"),
    cv("assault", "手指被刀划伤", P, 4, None, source="GRD"),
    cv("assault", "胸部枪伤", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("assault", "家暴，被打得鼻青脸肿", P, {3, 4}, None, source="FT21"),
    cv("assault", "被人割喉了", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("assault", "被人用刀砍了几刀，血流不止", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("burn", "被开水烫伤，手臂", P, {3, 4}, None, source="GRD"),
    cv("burn", "煤气爆炸，人烧伤，喘不上气", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("burn", "触电了，叫不醒", NONE, 1, TR, {"trauma_1"}, "GRD"),
    # a large burn alone is a burn-centre criterion, not a trauma-centre one (ABA)
    cv("burn", "大面积烧伤，人清醒", P, {1, 2}, None, source="ABA"),
    # --- minor / other medical
    cv("minor", "崴脚了，脚踝肿", P, 4),
    cv("minor", "切菜划破手指，小伤口", P, 4),
    cv("pain", "肚子疼得厉害，在床上打滚", P, 2),
    cv("pain", "腰痛得厉害，肾绞痛", P, 2),
    cv("pain", "疼痛评分8分，腹痛", P, 2),
    cv("other", "头晕，血压190/100", P, 3),
    cv("other", "血糖2.1，出冷汗", P, 2),
    cv("other", "发烧39.5度，心率120，血压95/60，呼吸25次", P, 2, source="SEP3"),
    cv("other", "发烧，呼吸24次，血压98/60", P, 2, source="SEP3"),
    cv("other", "心慌，心率150", P, 2),
    cv("other", "心慌，心率110，血压120/80", P, 3),
    cv("other", "感冒发烧38度", P, {3, 4}),
    cv("other", "心率130，血压88/60，头晕乏力", P, 2, source="SEP3"),
    cv("other", "喝农药了，人还清醒", P, {1, 2}, source="POISON"),
    # --- children
    cv("child", "8个月大的宝宝呛奶，脸色发乌", NONE, 1, PA, {"paediatric"}, "CHOKE"),
    cv("child", "小孩吃果冻卡住了，喘不上气", NONE, 1, PA, {"paediatric"}, "PALS"),
    cv("child", "2岁孩子发烧40度，精神还好", P, {3}, source="PALS"),
    cv("child", "新生儿，出生5天，发烧38.5度", P, 2, PA, {"neonatal"}, "PALS"),
    cv("child", "5岁孩子心率150", P, 3, source="PALS"),
    cv("child", "小儿呼吸困难，血氧88", P, 2, PA, {"paediatric"}, "PALS"),
    cv("child", "15个月大的孩子，心率150", P, 3, source="PALS"),
    cv("child", "新生儿，呼吸急促", P, 2, PA, {"neonatal"}, "PALS"),
    cv("child", "小朋友从滑梯上摔下来，手臂骨折，哭得很厉害", P, {3, 4}, TR, source="FT21"),
    cv("child", "小孩流鼻血止不住", P, 2, PA, {"paediatric"}, "PALS"),
    cv("child", "1岁宝宝，心率50", P, 1, PA, {"paediatric"}, "PALS"),
    cv("child", "3岁小孩，血压65/40", P, 2, PA, {"paediatric"}, "PALS"),
    # --- bookings
    cv("booking", "预约明天出院回家，病情稳定",
       {**P, "booking_reason": "discharge", **SCREEN_CLEAR}, 4, source="CBD"),
    cv("booking", "透析病人预约转运",
       {**P, "booking_reason": "dialysis", **SCREEN_CLEAR}, 4, source="CBD"),
    cv("booking", "预约出院，但今天胸口痛", {**P, "booking_reason": "discharge"}, 2, CP,
       source="CBD"),
    cv("booking", "预约转院，病人叫不醒", {"booking_reason": "transfer"}, 1, source="CBD"),
]

EN: list[CV] = [
    cv("arrest", "Husband collapsed, not breathing, no pulse", NONE, 1, source="ARREST"),
    cv("arrest", "Found him on the floor, unresponsive and only gasping", NONE, 1,
       source="ARREST"),
    cv("arrest", "Cardiac arrest, CPR in progress", NONE, 1, source="ARREST"),
    cv("unconscious", "Elderly woman passed out and won't wake up, still breathing", NONE, 1),
    cv("unconscious", "Drunk, can't wake him, breathing", NONE, 1, source="BEIJING"),
    cv("unconscious", "Fainted but awake and talking now", NONE, {3, 4}),
    cv("breathing", "Can't breathe, lips turning blue", P, 2),
    cv("breathing", "COPD exacerbation, sats 84%", P, 2),
    cv("breathing", "Asthma attack, can't speak in full sentences", P, 2),
    cv("breathing", "short of breath, spo2 76", P, 1),
    cv("chest_pain", "Pressure in the chest, sweating, 58 yo male", P, 2, CP, source="ACS"),
    cv("chest_pain", "Crushing chest pain radiating to the left arm", P, 2, CP, source="ACS"),
    cv("chest_pain", "having a heart attack, took nitro, no relief", P, 2, CP, source="ACS"),
    cv("chest_pain", "chest tightness and shortness of breath", P, 2, CP, source="ACS"),
    cv("chest_pain", "No chest pain, no shortness of breath, wants a check-up", P, {3, 4}),
    cv("stroke", "Weak right side and slurred speech", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "face drooping, can't lift his arm", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("stroke", "Sudden double vision and unsteady on her feet", P, 2, ST, {"thrombolysis"},
       "STROKE"),
    cv("stroke", "I think she is having a stroke", P, 2, ST, {"thrombolysis"}, "STROKE"),
    cv("seizure", "Seizure still going, 6 minutes now", NONE, 1, source="ILAE"),
    cv("seizure", "3 year old with fever had a febrile seizure, stopped now", P, 2, PA,
       {"paediatric"}, "PALS"),
    cv("seizure", "epileptic fit, finished fitting, drowsy", P, {2, 3}, source="ILAE"),
    cv("haemorrhage", "Vomiting blood, a lot of blood", P, 2, source="BEIJING"),
    cv("haemorrhage", "Cut his arm, blood spurting, won't stop bleeding", P, 2),
    cv("maternal", "32 weeks pregnant, waters broke, contractions", P, 2, MA,
       {"maternal", "neonatal"}, "MAT"),
    cv("maternal", "Pregnant and bleeding heavily", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "in labour, can see the head", P, {2, 3}, MA, {"maternal"}, "MAT"),
    cv("maternal", "postpartum haemorrhage at home", P, 2, MA, {"maternal"}, "MAT"),
    cv("traffic", "Car crash, driver trapped, conscious", P, 2, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "Pedestrian hit by a car, run over", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("traffic", "Motorcycle accident, GCS 10", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "Head-on collision, unconscious driver", NONE, 1, TR, {"trauma_1"}, "FT21"),
    cv("fall", "fell from the 3rd floor, awake", P, {2, 3}, TR, {"trauma_2"}, "FT21"),
    cv("fall", "Elderly lady fell, hit her head, on warfarin", P, 3, TR, {"trauma_2"}, "FT21"),
    cv("fall", "fell off a ladder, 2 m, broken wrist", P, {3, 4}, None, source="FT21"),
    cv("fall", "Tripped, twisted ankle", P, 4, None, source="GRD"),
    cv("assault", "Stabbed in the chest", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("assault", "Stabbed in the thigh", P, 2, TR, {"trauma_1"}, "FT21"),
    cv("assault", "Was shot, wound to the abdomen", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("assault", "Punched in a bar fight, small cut", P, {3, 4}, None, source="FT21"),
    cv("minor", "Sprained ankle playing football", P, 4),
    cv("minor", "Minor cut on the finger", P, 4),
    cv("pain", "Excruciating abdominal pain, writhing in pain", P, 2),
    cv("other", "Fever, RR 26, BP 92/60, confused", P, 2, source="SEP3"),
    cv("other", "Palpitations, HR 160", P, 2),
    cv("child", "6 month old baby choking on milk, turning blue", NONE, 1, PA, {"paediatric"},
       "CHOKE"),
    cv("child", "Newborn, 10 days old, temperature 38.5", P, 2, PA, {"neonatal"}, "PALS"),
    cv("child", "toddler with difficulty breathing, sats 87", P, 2, PA, {"paediatric"}, "PALS"),
]

# Written after section 1-5 as a check on what the rules had not been tuned to: each from
# a published case (the *_NEWS sources) or a guideline's presentation, levels set from the
# source before the engine was run on them. docs/triage.md gives their first-run figures.
NEW: list[CV] = [
    # --- falls: storeys and heights as callers say them
    cv("fall", "装空调的师傅从6楼掉下来了，满脸是血，还能说话", P, {1, 2}, TR, {"trauma_2"},
       "FALL_NEWS"),
    cv("fall", "男的从4楼摔到2楼雨棚上，动不了，人还清醒", P, {2, 3}, TR, source="FALL_NEWS"),
    cv("fall", "爬山从六米多高的崖上摔下来，背疼，能说话", P, {2, 3}, TR, source="FALL_NEWS"),
    cv("fall", "工地上从三层楼高的脚手架掉下来，人清醒", P, {2, 3}, TR, source="FT21"),
    cv("fall", "老人在家从凳子上摔下来，头磕了，吃华法林", P, 3, TR, {"trauma_2"}, "FT21"),
    cv("fall", "3岁孩子从二楼窗户掉下来，哭得很厉害", P, {2, 3}, TR, source="FT21"),
    cv("fall", "有人从十几米高的楼顶摔下去了", NONE, {1, 2}, TR, source="MPDS"),
    # --- burns
    cv("burn", "做饭时衣服着火了，身上烧了一大片，人清醒", P, {1, 2}, None, source="ABA"),
    cv("burn", "1岁半的孩子被开水烫了，胸口肚子都烫了，一直哭", P, {1, 2}, PA, {"paediatric"},
       "ABA"),
    cv("burn", "厨房着火，吸了很多烟，嗓子哑了，一直咳嗽", P, {1, 2}, None, source="ABA"),
    cv("burn", "手被热油烫了，起了几个泡，巴掌那么大", P, {3, 4}, None, source="ABA"),
    cv("burn", "工厂里被硫酸溅到腿上，一大片", P, {2, 3}, None, source="ABA"),
    cv("burn", "烧伤面积大概20%，老人，神志清楚", P, {1, 2}, None, source="ABA"),
    # --- poisoning
    cv("poison", "我妈跟我爸吵架，喝了半瓶敌敌畏，现在还能说话", P, {1, 2}, source="POISON"),
    cv("poison", "喝了百草枯，两个小时了，没什么不舒服", P, {1, 2}, source="POISON"),
    cv("poison", "一家四口烧炭取暖，女主人胸闷、恶心、呕吐", P, {1, 2}, source="CO_NEWS",
       gap="胸闷 reads as chest pain: level II is right, but the chest-pain pathway (PCI "
           "centre) is taken where CO needs hyperbaric oxygen, a need the tables lack"),
    cv("poison", "卧室里烧炭取暖，一个人怎么喊都喊不醒", NONE, {1, 2}, source="CO_NEWS"),
    cv("poison", "洗澡时燃气热水器漏气，人晕倒在浴室，现在醒了，头疼", P, {1, 2},
       source="CO_NEWS"),
    cv("poison", "吃了一瓶安眠药，叫得醒，说话含糊", P, {2, 3}, source="POISON",
       gap="slurred speech after sedatives reads as a stroke sign (stroke pathway); "
           "telling intoxication from stroke needs the crew's examination"),
    cv("poison", "3岁孩子误喝了84消毒液，哭闹，说嘴里疼", P, {2, 3}, source="POISON"),
    cv("poison", "老人把农药当饮料喝了一口，吐了", P, {1, 2}, source="POISON"),
    cv("poison", "喝了半瓶草甘膦除草剂", P, {1, 2}, source="POISON"),
    # --- heat and cold
    cv("heat", "工地上一个工人热晕了，体温42度，叫不太醒", NONE, {1, 2}, source="HEAT_NEWS"),
    cv("heat", "船舱里干活中暑了，抽搐，浑身发烫", P, {1, 2}, source="HEAT_NEWS"),
    cv("heat", "老人家里不开空调，一直说胡话，身上很烫", P, {1, 2}, source="HEAT_NEWS"),
    cv("heat", "跑马拉松的小伙子倒在终点，体温41.5，叫不醒", NONE, {1, 2}, source="HEAT_NEWS"),
    cv("heat", "流浪汉在雪地里冻了一夜，反应很慢，糊里糊涂", NONE, {1, 2}, source="SWISS"),
    # --- allergy and stings
    cv("allergy", "被马蜂蜇了好几下，胸闷心慌，浑身起疙瘩", P, {1, 2}, source="WASP_NEWS",
       gap="胸闷 after stings is anaphylaxis (WAO respiratory compromise) but reads as "
           "chest pain: level II is right, the chest-pain pathway is not"),
    cv("allergy", "吃了虾以后嘴唇舌头都肿了，喘不上气", P, {1, 2}, source="WAO"),
    cv("allergy", "打完青霉素全身起红疹，头晕要晕倒", P, {1, 2}, source="WAO"),
    cv("allergy", "被蜜蜂蜇了一下，手有点肿", P, {3, 4}, source="WAO"),
    cv("allergy", "被马蜂蜇了四十多个包，人还能说话", P, {1, 2}, source="WASP_NEWS",
       gap="the number of stings is not a fact: the wasp-sting consensus (2018) and the "
           "NHC norm (2021) grade mass envenomation, their threshold was not read"),
    # --- headache, back pain
    cv("headache", "突然后脑勺剧烈头痛，像被人打了一棍，吐了", P, {1, 2}, source="SAH"),
    cv("headache", "头痛得像要炸开，这辈子没这么疼过，脖子硬", P, {1, 2}, source="SAH"),
    cv("back_pain", "后背突然撕裂一样疼，疼得出冷汗", P, {1, 2}, source="AORTIC"),
    cv("back_pain", "腰疼了一个礼拜了，能自己走路", P, {3, 4}),
    # --- drowning, electricity, intoxication
    cv("drowning", "孩子在河里游泳溺水，救上来了，一直咳嗽，嘴唇发紫", P, {1, 2}, PA,
       {"paediatric"}, "DROWN",
       gap="孩子 gives no age (a grown son is a 孩子 too): level II, but no paediatric "
           "pathway until the age is asked"),
    cv("drowning", "老人掉进鱼塘，捞上来没气了", NONE, 1, source="ARREST"),
    cv("electric", "电工碰到高压线从杆子上摔下来，醒着", P, {1, 2}, TR, source="FT21",
       gap="two mechanisms in one text: the first named (electric burn) stands, so the "
           "fall's trauma pathway is lost; level II is right"),
    cv("electric", "在家插电源被电了一下，手麻，人没事", P, {3, 4}),
    cv("electric", "下雨天在田里被雷劈了，人醒着，身上有烧伤", P, {1, 2}, source="ABA"),
    cv("alcohol", "朋友喝多了，躺地上吐，摇才醒", NONE, {1, 2}, source="GRD"),
    cv("alcohol", "喝醉了摔了一跤，头上磕了个口子，能说话", P, {3, 4}, source="FT21"),
    # --- colloquial with numbers and abbreviations
    cv("chest_pain", "心梗放过支架，又胸口压着疼，出冷汗，55岁", P, 2, CP, source="ACS"),
    cv("breathing", "COPD老病号，喘得说不出话，SpO2 82", P, 2),
    cv("maternal", "怀孕34周，头痛眼花，血压170/115", P, 2, MA, {"maternal"}, "MAT"),
    cv("maternal", "孕38周，羊水破了，脐带掉出来了", P, {1, 2}, MA, {"maternal"}, "MAT"),
    cv("child", "2个月大的孩子发烧38.2度", P, 2, PA, {"paediatric"}, "PALS"),
    cv("child", "小孩吃花生呛到了，脸憋紫了，咳不出来", NONE, 1, PA, {"paediatric"}, "CHOKE"),
    cv("stroke", "右边手脚没劲，嘴歪，72岁", P, 2, ST, source="STROKE"),
    cv("stroke", "房颤病人，突然说不出话，左边没力气", P, 2, ST, source="STROKE"),
    cv("other", "老人低血糖，血糖1.8，叫不太醒", P, {1, 2}),
    cv("other", "糖尿病人血糖35，迷迷糊糊", P, {1, 2}),
    cv("other", "上吐下泻一天了，能喝水，38度", P, {3, 4}),
    cv("haemorrhage", "割腕了，血一直流，止不住", P, {1, 2}),
    cv("assault", "被人用刀捅了肚子，还能走", P, {1, 2}, TR, {"trauma_1"}, "FT21"),
    cv("traffic", "电动车撞到路边，骑车的人甩出去好几米，人迷糊", P, {1, 2}, TR, source="FT21",
       gap="迷糊 (confused) after a thrown rider: the 2021 red criterion needs motor GCS < 6 "
           "and the CN grading puts 嗜睡 at III; the crew's GCS decides"),
    # --- English
    cv("fall", "Worker fell from scaffolding on the 5th floor, conscious, back pain", P, {1, 2},
       TR, {"trauma_2"}, "MPDS"),
    cv("fall", "Fell about 12 metres from a roof, awake", P, {1, 2}, TR, source="MPDS"),
    cv("fall", "Fell off a chair, bruised knee", P, 4),
    cv("burn", "House fire, my dad breathed in a lot of smoke and his voice is hoarse", P,
       {1, 2}, None, source="ABA"),
    cv("burn", "Scalded with boiling water, about 25% of his body", P, {1, 2}, None,
       source="ABA"),
    cv("burn", "Small burn on her finger from the stove", P, 4, None, source="ABA"),
    cv("poison", "My husband drank pesticide, he's still talking", P, {1, 2}, source="POISON"),
    cv("poison", "Whole family has headaches, we think carbon monoxide from the heater", P,
       {1, 2}, source="POISON"),
    cv("poison", "She took a handful of sleeping pills an hour ago, drowsy but answers", P,
       {2, 3}, source="POISON"),
    cv("allergy", "Stung by a wasp, now her face is swollen and she feels faint", P, {1, 2},
       source="WAO"),
    cv("allergy", "Ate peanuts, lips and tongue swelling, wheezing", P, {1, 2}, source="WAO"),
    cv("headache", "Sudden worst headache of his life while lifting weights, vomited", P,
       {1, 2}, source="SAH"),
    cv("back_pain", "Sudden tearing pain between the shoulder blades", P, {1, 2},
       source="AORTIC"),
    cv("heat", "Marathon runner collapsed, temperature 41.2, confused", NONE, {1, 2},
       source="HEAT_NEWS"),
    cv("heat", "Elderly man found outside in the snow, hypothermic and confused", NONE, {1, 2},
       source="SWISS"),
    cv("drowning", "Child pulled out of the pool, coughing and breathing fast", P, {1, 2}, PA,
       {"paediatric"}, "DROWN"),
    cv("electric", "Electrician hit by high voltage, burns on both hands, awake", P, {1, 2},
       source="ABA"),
    cv("electric", "Got a small shock from a socket, feels fine", P, {3, 4}),
    cv("alcohol", "Very drunk, only wakes when shaken", NONE, {1, 2}, source="GRD"),
    cv("maternal", "34 weeks pregnant, BP 168/112 with a headache", P, 2, MA, {"maternal"},
       "MAT"),
]

ALL: list[CV] = ZH + EN + NEW
