// Call taking on the chief-complaint cards of GET /v1/triage/protocol: pick a card
// (searched by its Chinese or English name, id or MPDS / Dansk Indeks code), ask its key
// questions in order, and read each answer as the card's question type says (yes/no,
// number, one of its choices, a time in the centre's zone). What the engine still lacks
// (`missing`, `card.<question>` included) is marked on the questions to ask next.
import { lang, t } from "./i18n.js";
import { el } from "./levels.js";
import { dayTime, fromCentreLocal } from "./time.js";

const CARD_ANSWER = "card.";

export class CardForm {
  /**
   * @param {object} parts  search: <input>, list: <select size>, questions: <ol>,
   *   onChange: called after any change of card or answer
   */
  constructor({ search, list, questions, onChange }) {
    Object.assign(this, { search, list, questions, onChange });
    this.cards = [];
    this.byId = new Map();
    this.answers = {}; // question id -> raw input value, kept across re-renders
    search.addEventListener("input", () => this.renderList());
    search.addEventListener("keydown", (e) => {
      // Enter takes the first card matching the search; ArrowDown moves into the list
      if (e.key === "Enter") {
        e.preventDefault();
        const first = this.list.querySelector("option");
        if (first) this.choose(first.value);
      } else if (e.key === "ArrowDown") {
        e.preventDefault();
        this.list.focus();
      }
    });
    // arrows browse the list; Enter, a click or a tap takes the card
    list.addEventListener("keydown", (e) => {
      this.browsing = e.key.startsWith("Arrow");
      if (e.key === "Enter") {
        e.preventDefault();
        this.choose(list.value);
      }
    });
    list.addEventListener("change", () => {
      if (!this.browsing) this.choose(list.value);
      this.browsing = false;
    });
  }

  load(protocol) {
    this.cards = protocol.cards;
    this.byId = new Map(this.cards.map((c) => [c.id, c]));
    // a field the engine may ask for -> a question that answers it, on any card
    this.fieldQuestion = new Map();
    for (const card of this.cards) {
      for (const q of card.questions) {
        for (const f of fieldsOf(q)) if (!this.fieldQuestion.has(f)) this.fieldQuestion.set(f, q);
      }
    }
    this.render();
  }

  get card() {
    return this.byId.get(this.list.dataset.chosen) || null;
  }

  title(card) {
    return lang() === "zh" ? card.title_zh : card.title_en;
  }

  text(q) {
    return lang() === "zh" ? q.text_zh : q.text_en;
  }

  matches(card, needle) {
    if (!needle) return true;
    return [card.title_zh, card.title_en, card.id, card.codes]
      .some((s) => s.toLowerCase().includes(needle));
  }

  renderList() {
    const needle = this.search.value.trim().toLowerCase();
    const chosen = this.list.dataset.chosen;
    const shown = this.cards.filter((c) => c.id === chosen || this.matches(c, needle));
    this.list.replaceChildren(...shown.map((c) => el("option", {
      value: c.id, selected: c.id === chosen,
      textContent: `${this.title(c)} · ${c.codes.split(";")[0]}` })));
  }

  choose(cardId) {
    if (!this.byId.has(cardId) || this.list.dataset.chosen === cardId) return;
    this.list.dataset.chosen = cardId;
    this.answers = {};
    this.search.value = "";
    this.render();
    this.questions.querySelector("select, input")?.focus();
    this.onChange();
  }

  clear() {
    delete this.list.dataset.chosen;
    this.answers = {};
    this.search.value = "";
    this.render();
  }

  render() {
    this.renderList();
    const card = this.card;
    if (!card) {
      this.questions.replaceChildren(el("li", { className: "muted", textContent: t("pick_card") }));
      return;
    }
    this.questions.replaceChildren(...card.questions.map((q) => {
      const input = this.input(q);
      if (this.answers[q.id] !== undefined) input.value = this.answers[q.id];
      const keep = () => {
        this.answers[q.id] = input.value;
        this.onChange();
      };
      input.addEventListener("change", keep);
      if (input.tagName === "INPUT") input.addEventListener("input", keep);
      return el("li", { dataset: { question: q.id, type: q.type } },
        el("label", {}, el("span", { className: "q-text", textContent: this.text(q) }),
          el("span", { className: "ask-mark", textContent: ` ${t("ask_next")}` }), " ", input));
    }));
  }

  input(q) {
    const unknown = el("option", { value: "", textContent: t("unknown") });
    if (q.type === "bool") {
      return el("select", {}, unknown, el("option", { value: "true", textContent: t("yes") }),
        el("option", { value: "false", textContent: t("no") }));
    }
    if (q.type === "choice") {
      return el("select", {}, unknown, ...q.choices.map((c) => el("option", {
        value: c.value, textContent: lang() === "zh" ? c.label_zh : c.label_en })));
    }
    if (q.type === "number") return el("input", { type: "number", step: "any" });
    return el("input", { type: "datetime-local" }); // read in the centre's zone
  }

  /** The answers typed as the card's questions want them (unanswered ones left out). */
  read() {
    const card = this.card;
    const out = {};
    if (!card) return out;
    for (const q of card.questions) {
      const raw = this.answers[q.id];
      if (raw === undefined || raw === "") continue;
      if (q.type === "bool") out[q.id] = raw === "true";
      else if (q.type === "number") out[q.id] = Number(raw);
      else if (q.type === "datetime") out[q.id] = fromCentreLocal(raw);
      else out[q.id] = raw;
    }
    return out;
  }

  /** Mark the card's questions the engine still lacks; the rest are listed as text. */
  markMissing(missing) {
    const card = this.card;
    const asked = new Set();
    const others = [];
    for (const name of missing || []) {
      const q = card && (name.startsWith(CARD_ANSWER)
        ? card.questions.find((x) => x.id === name.slice(CARD_ANSWER.length))
        : card.questions.find((x) => fieldsOf(x).includes(name)));
      if (q) asked.add(q.id);
      else others.push(name);
    }
    for (const li of this.questions.querySelectorAll("li[data-question]")) {
      li.classList.toggle("ask", asked.has(li.dataset.question));
    }
    return { asked: card ? card.questions.filter((q) => asked.has(q.id)) : [],
      others: others.map((name) => this.missingText(name)) };
  }

  missingText(name) {
    const q = this.fieldQuestion?.get(name.startsWith(CARD_ANSWER) ? "" : name);
    return q ? this.text(q) : name;
  }

  focusQuestion(qid) {
    this.questions.querySelector(`li[data-question="${qid}"] select, `
      + `li[data-question="${qid}"] input`)?.focus();
  }

  /** A card reason ("CARD-<card>" or "CARD-<card>.<question>") in words: the card, or the
   * question and its answer as given (`answers`: question id -> typed answer). */
  reasonText(ruleId, answers) {
    const m = /^CARD-([a-z0-9_]+)(?:\.([a-z0-9_]+))?$/.exec(ruleId);
    const card = m && this.byId.get(m[1]);
    if (!card) return null;
    if (!m[2]) return `${t("card")}: ${this.title(card)}`;
    const q = card.questions.find((x) => x.id === m[2]);
    if (!q) return null;
    const value = answers?.[q.id];
    let answer = value ?? "";
    if (q.type === "bool") answer = value ? t("yes") : t("no");
    else if (q.type === "choice") {
      const c = q.choices.find((x) => x.value === value);
      if (c) answer = lang() === "zh" ? c.label_zh : c.label_en;
    } else if (q.type === "datetime" && value) answer = dayTime(value);
    return `${this.text(q)} ${answer}`;
  }
}

/** The Answers fields a question's answer sets. */
function fieldsOf(q) {
  const fields = [];
  if (q.field) fields.push(q.field);
  for (const sets of [q.if_yes, q.if_no, ...(q.choices || []).map((c) => c.sets)]) {
    if (sets) fields.push(...Object.keys(sets));
  }
  return fields;
}
