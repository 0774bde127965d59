"""Under-/over-triage of the vignette sets and the evaluation time, for docs/triage.md.

Run: PYTHONPATH=$PWD python -m tests.triage.measure
Under-triage: a vignette whose accepted levels are all I or II given III or IV.
Over-triage: a vignette given a level more urgent than every accepted level.
Time: wall clock and thread CPU time per evaluation; on a shared machine the wall-clock
tail is other processes' load, the CPU time is what one evaluation costs.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

from dispatch.triage import Answers, Findings, retriage, triage_call
from dispatch.triage.keywords import _analysed, _find_matches
from dispatch.triage.protocol import load_protocol
from dispatch.triage.result import TriageResult
from dispatch.triage.textnums import read_card_numbers, read_numbers
from tests.triage.caller_vignettes import ALL, CV, NEW
from tests.triage.cases import NOW


def evaluate(v: CV) -> TriageResult:
    return triage_call(Answers.model_validate(v.answers), complaint=v.text, now=NOW)


@dataclass
class Tally:
    n: int = 0
    true_urgent: int = 0
    under: int = 0
    over: int = 0
    exact: int = 0

    def add(self, levels: frozenset[int], given: int) -> None:
        self.n += 1
        self.exact += given in levels
        if max(levels) <= 2:
            self.true_urgent += 1
            self.under += given >= 3
        self.over += given < min(levels)

    def row(self, name: str) -> str:
        under = f"{self.under}/{self.true_urgent}" if self.true_urgent else "-"
        return (f"| {name} | {self.n} | {self.exact} | {under} | {self.over} |")


def tallies(vignettes: list[CV]) -> tuple[Tally, dict[str, Tally]]:
    overall, per_card = Tally(), defaultdict[str, Tally](Tally)
    for v in vignettes:
        given = int(evaluate(v).acuity)
        overall.add(v.levels, given)
        per_card[v.card].add(v.levels, given)
    return overall, dict(per_card)


def structured() -> Tally:
    """The structured-answer vignettes of test_vignettes.py (one accepted level each)."""
    from tests.triage.test_vignettes import VIGNETTES

    t = Tally()
    for v in VIGNETTES:
        answers = Answers.model_validate(v.answers)
        r = (triage_call(answers, complaint=v.complaint, now=NOW) if v.findings is None
             else retriage(answers, Findings.model_validate(v.findings), complaint=v.complaint,
                           now=NOW))
        t.add(frozenset({v.level}), int(r.acuity))
    return t


def timings(rounds: int = 50) -> dict[str, tuple[float, float, float, float]]:
    """Median and p99 (ms), wall clock and CPU, of one evaluation of each caller vignette,
    text included: warm (the text's matches cached, as on a re-triage) and cold (every
    cache cleared, rule outcomes too)."""
    protocol = load_protocol()
    out = {}
    for label, cold in (("warm", False), ("cold", True)):
        samples: list[float] = []
        cpu: list[float] = []
        gc.disable()
        try:
            for _ in range(rounds):
                for v in ALL:
                    answers = Answers.model_validate(v.answers)
                    if cold:
                        _find_matches.cache_clear()
                        _analysed.cache_clear()
                        read_numbers.cache_clear()
                        read_card_numbers.cache_clear()
                        protocol.outcomes.clear()
                    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                    triage_call(answers, complaint=v.text, now=NOW)
                    cpu.append((time.thread_time_ns() - c0) / 1e6)
                    samples.append((time.perf_counter_ns() - t0) / 1e6)
        finally:
            gc.enable()
        samples.sort()
        cpu.sort()
        p99 = int(len(samples) * 0.99)
        out[label] = (statistics.median(samples), samples[p99], statistics.median(cpu), cpu[p99])
    return out


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    overall, per_card = tallies(ALL)
    zh = [v for v in ALL if not v.text.isascii()]
    _say(f"caller vignettes: {len(ALL)} ({len(zh)} Chinese); structured: {structured().n}")
    _say("| card | n | level accepted | under-triage (I/II given III/IV) | over-triage |")
    _say("|---|---|---|---|---|")
    _say(overall.row("all caller vignettes"))
    for card in sorted(per_card):
        _say(per_card[card].row(card))
    new, _ = tallies(NEW)
    _say(new.row("of which the new set (NEW)"))
    s = structured()
    _say(s.row("structured (test_vignettes.py)"))
    u = (overall.under + s.under) / max(1, overall.true_urgent + s.true_urgent)
    o = (overall.over + s.over) / (overall.n + s.n)
    _say(f"combined: under-triage {u:.1%}, over-triage {o:.1%}")
    for label, (median, p99, cpu_median, cpu_p99) in timings().items():
        _say(f"{label}: wall median {median:.3f} ms, p99 {p99:.3f} ms; "
             f"CPU median {cpu_median:.3f} ms, p99 {cpu_p99:.3f} ms")


if __name__ == "__main__":
    main()
