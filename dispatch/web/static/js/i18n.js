// zh-CN first, English second: one dictionary for every page. The choice is kept per
// browser; `apply()` rewrites every [data-i18n] element, pages re-render their own lists
// on the "langchange" event.
const DICT = {
  zh: {
    app: "120 调度", console: "调度台", ed: "急诊接收屏", crew: "车组终端",
    sign_in: "登录", name: "用户名", password: "密码", sign_out: "退出登录",
    bad_login: "用户名或密码错误", login_failed: "登录失败",
    session_expired: "会话已过期", session_expired_text: "登录已过期，请重新登录。",
    sign_in_again: "重新登录", connected: "已连接", connecting: "连接中…",
    disconnected: "连接已断开，正在重连", stopped: "未连接", switch_lang: "English",
    last_update: "最后更新", loading: "加载中…", load_failed: "加载失败",
    new_call: "接警", caller_number: "主叫号码", complaint: "主诉",
    questions: "分诊问题", location: "位置", click_map: "在地图上点击设置呼救者位置（人工定位）",
    accuracy_m: "精度（米）", submit_call: "提交并分诊", yes: "是", no: "否", unknown: "未知",
    queue: "警情队列", no_calls: "当前没有警情", fleet: "车辆", map: "地图", alerts: "动态与警报",
    selected_call: "选中的警情", recommended: "推荐车辆", confirm: "确认派车",
    override: "改派此车", add_vehicle: "增派此车", cancel_call: "取消警情",
    cancel_reason: "取消原因", assigned: "已派车辆", eta: "预计到达", distance: "距离",
    reasons: "理由", accuracy: "精度", destination: "目的医院", received: "受理时间",
    status: "状态", acuity: "分级", pathway: "通道", none: "无", protocol: "分诊规则",
    call_taken: "警情已受理", need_location: "请先在地图上点击位置", waited: "等待",
    inbound: "在途", arrived_count: "已到达/交接中", eta_countdown: "到达倒计时",
    atmist: "ATMIST 交接摘要", age: "年龄", sex: "性别", mechanism: "致伤机制",
    injuries: "损伤", findings: "发现", signs: "生命体征", treatments: "已给予处置",
    latest_vitals: "最新生命体征", ecg: "心电图", stemi: "STEMI（ST段抬高型心梗）",
    acknowledge: "确认收到", acknowledged: "已确认", activate_teams: "启动所选团队",
    teams: "团队", arrived: "已到达", declare_arrival: "登记到达", handover: "交接完成",
    diversion: "分流", diversion_on: "开始分流", diversion_off: "结束分流",
    capability: "能力", no_patients: "当前没有在途患者", new_prealert: "新的预警",
    crew_status: "车组状态", mission: "当前任务", no_mission: "暂无任务",
    address: "地点", send_vitals: "发送生命体征", pending: "待确认", sent_ok: "已确认",
    refused: "被拒绝", hr: "心率", sbp: "收缩压", dbp: "舒张压", spo2: "血氧",
    rr: "呼吸", gcs: "GCS", temp_c: "体温", request_team: "请求启动团队",
    request_destination: "申请改送医院",
    scene: "现场", unit: "车辆", waiting: "已到达", incoming: "在途",
    removed: "已移出", called_off: "警情已取消", rerouted: "已改送其他医院",
    count_calls: "警情", count_available: "可用车辆", stale: "数据可能过期",
    eta_unknown: "未知", min: "分", sec: "秒", ago: "前", minutes: "分钟",
    coverage: "覆盖与前移", coverage_layer: "显示 8 分钟覆盖图层（绿：覆盖；红虚线：未覆盖）",
    refresh: "刷新", coverage_share: "8 分钟内可达的需求占比", move_up: "前移建议",
    accept: "采纳", no_moves: "暂无前移建议", accepted: "已采纳",
    card: "主诉卡", card_search: "查找主诉卡", card_search_hint: "中文或英文名称、编码（如 胸痛、MPDS 10）",
    card_list: "主诉卡列表", pick_card: "请先选择主诉卡，按顺序询问其关键问题",
    ask_next: "待问", nothing_missing: "关键问题已问完", determinants: "判定依据",
    wrong_page: "当前账号不能打开该页面，请用有权限的账号登录",
    enable_sound: "点击启用预警提示音",
    needs_action: "需处理", navigate: "导航", caller_invalid: "请输入 3–32 位数字",
  },
  en: {
    app: "120 dispatch", console: "Dispatcher console", ed: "ED receiving board",
    crew: "Crew tablet", sign_in: "Sign in", name: "Name", password: "Password",
    sign_out: "Sign out", bad_login: "Wrong name or password", login_failed: "Sign-in failed",
    session_expired: "Session expired",
    session_expired_text: "Your session has expired. Please sign in again.",
    sign_in_again: "Sign in again", connected: "Connected", connecting: "Connecting…",
    disconnected: "Disconnected, reconnecting", stopped: "Not connected",
    switch_lang: "中文",
    last_update: "Last update", loading: "Loading…", load_failed: "Failed to load",
    new_call: "New call", caller_number: "Caller number", complaint: "Complaint",
    questions: "Triage questions", location: "Location",
    click_map: "Click the map to set the caller's location (manual fix)",
    accuracy_m: "Accuracy (m)", submit_call: "Submit and triage", yes: "Yes", no: "No",
    unknown: "Unknown", queue: "Call queue", no_calls: "No calls now", fleet: "Fleet",
    map: "Map", alerts: "Events and alerts", selected_call: "Selected call",
    recommended: "Recommended vehicles", confirm: "Confirm dispatch",
    override: "Send this one instead", add_vehicle: "Send this one too",
    cancel_call: "Cancel call", cancel_reason: "Reason for cancelling",
    assigned: "Assigned vehicles", eta: "ETA", distance: "Distance", reasons: "Reasons",
    accuracy: "Accuracy", destination: "Destination", received: "Received",
    status: "Status", acuity: "Level", pathway: "Pathway", none: "None",
    protocol: "Triage protocol", call_taken: "Call taken",
    need_location: "Click the map to set the location first", waited: "Waiting",
    inbound: "En route", arrived_count: "Arrived / offloading", eta_countdown: "Arrives in",
    atmist: "ATMIST handover", age: "Age", sex: "Sex", mechanism: "Mechanism",
    injuries: "Injuries", findings: "Findings", signs: "Vital signs",
    treatments: "Treatments given", latest_vitals: "Latest vitals", ecg: "ECG",
    stemi: "STEMI", acknowledge: "Acknowledge", acknowledged: "Acknowledged",
    activate_teams: "Activate selected teams", teams: "Teams", arrived: "Arrived",
    declare_arrival: "Declare arrival", handover: "Handover complete",
    diversion: "Diversion", diversion_on: "Start diverting", diversion_off: "Stop diverting",
    capability: "Capability", no_patients: "No inbound patients",
    new_prealert: "New pre-alert", crew_status: "Crew status", mission: "Current mission",
    no_mission: "No mission", address: "Location", send_vitals: "Send vitals",
    pending: "Pending", sent_ok: "Acknowledged", refused: "Refused", hr: "HR",
    sbp: "Systolic BP", dbp: "Diastolic BP", spo2: "SpO₂", rr: "Resp. rate", gcs: "GCS",
    temp_c: "Temp.", request_team: "Request team activation", scene: "Scene",
    request_destination: "Request destination",
    unit: "Unit", waiting: "Arrived", incoming: "Incoming", removed: "Removed",
    called_off: "Call cancelled", rerouted: "Re-routed to another hospital",
    count_calls: "Calls", count_available: "Available vehicles", stale: "Data may be stale",
    eta_unknown: "unknown", min: "min", sec: "s", ago: "ago", minutes: "min",
    coverage: "Coverage and move-up",
    coverage_layer: "Show the 8-minute coverage layer (green: covered; red dashed: not)",
    refresh: "Refresh", coverage_share: "Demand reached within 8 min", move_up: "Move-ups",
    accept: "Accept", no_moves: "No move-up recommended", accepted: "Accepted",
    card: "Chief-complaint card", card_search: "Find a card",
    card_search_hint: "Name or code (e.g. chest pain, MPDS 10)", card_list: "Cards",
    pick_card: "Pick a chief-complaint card, then ask its key questions in order",
    ask_next: "Ask next", nothing_missing: "All key questions answered",
    determinants: "Determinant and reasons", needs_action: "Action needed",
    navigate: "Navigate", caller_invalid: "3 to 32 digits",
    enable_sound: "Click to allow the pre-alert sound",
    wrong_page: "This account may not open that page: sign in with one that may",
  },
};

// Vocabularies the API sends as codes: one label per language.
const CODES = {
  acuity: { 1: ["I 级 濒危", "I Dying"], 2: ["II 级 危重", "II Critical"],
    3: ["III 级 急症", "III Urgent"], 4: ["IV 级 非急症", "IV Non-urgent"] },
  status: {
    available: ["可用", "Available"], dispatched: ["已派出", "Dispatched"],
    en_route: ["出车途中", "En route"], on_scene: ["到达现场", "On scene"],
    transporting: ["转运途中", "Transporting"], at_hospital: ["到达医院", "At hospital"],
    returning: ["返回途中", "Returning"], out_of_service: ["停用", "Out of service"],
    queued: ["等待派车", "Queued"], assigned: ["已派车", "Assigned"],
    active: ["处置中", "Active"], closed: ["已结案", "Closed"], cancelled: ["已取消", "Cancelled"],
  },
  pathway: { chest_pain: ["胸痛", "Chest pain"], stroke: ["卒中", "Stroke"],
    trauma: ["创伤", "Trauma"], maternal: ["危重孕产妇", "Critical maternal"],
    paediatric: ["危重儿童/新生儿", "Critical paediatric"] },
  team: { cath_lab: ["导管室", "Cath lab"], stroke_team: ["卒中团队", "Stroke team"],
    trauma_team: ["创伤团队", "Trauma team"], obstetric: ["产科", "Obstetric"],
    neonatal: ["新生儿科", "Neonatal"], ed: ["急诊科", "ED"] },
  capability: { ed: ["急诊科（全部）", "ED (all)"], pci: ["PCI", "PCI"],
    thrombolysis: ["溶栓", "Thrombolysis"], thrombectomy: ["取栓", "Thrombectomy"],
    maternal: ["孕产妇", "Maternal"], paediatric: ["儿科", "Paediatric"],
    neonatal: ["新生儿", "Neonatal"], trauma: ["创伤", "Trauma"] },
  transport: { emergency: ["急救转运", "Emergency transport"],
    non_emergency: ["非急救转运", "Non-emergency transport"] },
  kind: { als: ["高级生命支持", "ALS"], bls: ["基础生命支持", "BLS"], net: ["非急救转运", "NET"] },
  phase: { alerted: ["已预警", "Alerted"], acknowledged: ["已确认", "Acknowledged"],
    arrived: ["已到达", "Arrived"], handed_over: ["已交接", "Handed over"] },
  sex: { female: ["女", "Female"], male: ["男", "Male"] },
  rhythm: { sinus: ["窦性心律", "Sinus"], sinus_tachycardia: ["窦性心动过速", "Sinus tachycardia"],
    sinus_bradycardia: ["窦性心动过缓", "Sinus bradycardia"],
    atrial_fibrillation: ["心房颤动", "Atrial fibrillation"],
    atrial_flutter: ["心房扑动", "Atrial flutter"], svt: ["室上速", "SVT"], vt: ["室速", "VT"],
    vf: ["室颤", "VF"], av_block_2: ["二度房室传导阻滞", "2nd-degree AV block"],
    av_block_3: ["三度房室传导阻滞", "3rd-degree AV block"], asystole: ["心脏停搏", "Asystole"],
    pea: ["无脉电活动", "PEA"], paced: ["起搏心律", "Paced"], other: ["其他", "Other"] },
};

export function lang() {
  return localStorage.getItem("dispatch.lang") === "en" ? "en" : "zh";
}

export function t(key) {
  return DICT[lang()][key] ?? DICT.zh[key] ?? key;
}

/** The label of an API code (acuity 2, status "en_route", team "cath_lab"...). */
export function code(vocabulary, value) {
  const pair = CODES[vocabulary]?.[value];
  if (!pair) return value == null ? t("none") : String(value);
  return pair[lang() === "zh" ? 0 : 1];
}

export function apply(root = document) {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function setLang(value) {
  localStorage.setItem("dispatch.lang", value);
  apply();
  window.dispatchEvent(new Event("langchange"));
}

/** Wire a button that switches between the two languages. */
export function langSwitch(button) {
  button.dataset.i18n = "switch_lang";
  button.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
}

/** An age as people say it: days in the neonatal period (28 days, WHO), months to two,
 * then years (as the handover's ATMIST text counts them). */
export function ageText(years) {
  if (years == null) return null;
  const days = years * 365.25;
  const zh = lang() === "zh";
  if (days < 28) return zh ? `${Math.floor(days)} 天` : `${Math.floor(days)} d`;
  if (years < 2) return zh ? `${Math.floor(years * 12)} 个月` : `${Math.floor(years * 12)} mo`;
  return zh ? `${Math.floor(years)} 岁` : `${Math.floor(years)} y`;
}

/** Texts the API writes as "中文 / English" (refusals, alerts): the half for this language. */
export function halves(text) {
  if (!text) return "";
  const m = /^([^/]*[\u4e00-\u9fff][^/]*?)\s+\/\s+(.+)$/s.exec(text);
  if (!m) return text;
  return lang() === "zh" ? m[1] : m[2];
}

/** Texts the API writes in both languages, "English (中文)": the half for this language. */
export function bilingual(text) {
  if (!text) return "";
  const m = /^(.*?)\s*\(([^()]*[\u4e00-\u9fff][^()]*)\)\s*$/.exec(text);
  if (!m) return text;
  return lang() === "zh" ? `${m[2]}（${m[1]}）` : m[1];
}

/** A triage reason in this language: its text_zh, or its English text (older records
 *  carry only "English (中文)" in `text`). */
export function reasonText(reason) {
  if (lang() === "zh" && reason?.text_zh) return reason.text_zh;
  return bilingual(reason?.text_en || reason?.text);
}
