"""Mutation testing of the pure cores: run mutmut under a time cap, then write a report.

    python tools/mutation.py                         # every module in [tool.mutmut] only_mutate
    python tools/mutation.py dispatch/geo/fusion.py dispatch/triage/engine.py --minutes 20

mutmut (configured in pyproject.toml, [tool.mutmut]) mutates the modules in a copy under
mutants/ and runs each mutant against the pure tests. This wrapper stops it at the cap
(mutmut keeps every verdict so far in mutants/: a run over all modules resumes where the
last one stopped, a run naming modules checks their mutants again), then scores each
module from mutants/**/*.meta and writes mutants/report.md: killed / tested per module,
with the mutants in tests/mutation_equivalent.toml (equivalent, each with its reason) left
out, and the surviving mutants' diffs. Not in CI: a full run takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation_equivalent.toml"
# mutmut's exit codes (mutmut/stats.py): 1 and 3 kill, 0 survives, 33 has no test
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass
class Score:
    module: str
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    equivalent: int = 0
    unchecked: int = 0

    @property
    def tested(self) -> int:
        return self.killed + self.timeout + self.survived + self.no_tests

    @property
    def percent(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.tested if self.tested else 0.0


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def equivalent_mutants() -> dict[str, str]:
    """Mutant name -> why it is equivalent (behaves like the original for every input)."""
    if not EQUIVALENT.exists():
        return {}
    return dict(tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", {}))


def run_mutmut(modules: list[str] | None, *, minutes: float, children: int) -> None:
    """mutmut run over the modules' mutants (None: every configured module, resuming where
    the last run stopped); stopped at the cap, the verdicts so far kept."""
    patterns = [f"{module_name(m)}.*" for m in modules or ()]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *patterns]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        print(f"time cap of {minutes:g} min reached: stopping mutmut (results so far kept)")
        # mutmut saves each verdict as it comes; SIGTERM, as SIGINT is ignored by a run
        # started in the background
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def scores(modules: list[str], equivalent: dict[str, str]) -> tuple[list[Score], list[str]]:
    """Each module's score, and its surviving mutants' names."""
    out: list[Score] = []
    survivors: list[str] = []
    for module in modules:
        meta = ROOT / "mutants" / f"{module}.meta"
        score = Score(module)
        if meta.exists():
            codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
            for name, code in sorted(codes.items()):
                if name in equivalent:
                    score.equivalent += 1
                elif code is None:
                    score.unchecked += 1
                elif code in KILLED:
                    score.killed += 1
                elif code in TIMEOUT:
                    score.timeout += 1
                elif code in NO_TESTS:
                    score.no_tests += 1
                    survivors.append(name)
                else:  # survived, or anything mutmut calls suspicious
                    score.survived += 1
                    survivors.append(name)
        out.append(score)
    return out, survivors


def diff(name: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    return "\n".join(line for line in shown.stdout.splitlines()
                     if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def report(modules: list[str], *, with_diffs: bool) -> str:
    equivalent = equivalent_mutants()
    table, survivors = scores(modules, equivalent)
    lines = ["# Mutation score", "",
             "| module | killed | timeout | survived | no test | equivalent | not run | score |",
             "|---|---|---|---|---|---|---|---|"]
    for s in table:
        lines.append(f"| {s.module} | {s.killed} | {s.timeout} | {s.survived} | {s.no_tests} "
                     f"| {s.equivalent} | {s.unchecked} | {s.percent:.1f}% |")
    counts = Counter(name.rsplit("__mutmut_", 1)[0] for name in survivors)
    lines += ["", f"## Survivors ({len(survivors)})", ""]
    for name in survivors:
        lines.append(f"- `{name}`")
        if with_diffs:
            lines += ["", "```diff", diff(name), "```", ""]
    lines += ["", "## Survivors per function", ""]
    lines += [f"- `{fn}`: {n}" for fn, n in counts.most_common()]
    return "\n".join(lines) + "\n"


def configured_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globbed: list[str] = []
    for pattern in config["tool"]["mutmut"]["only_mutate"]:
        globbed += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern)
                          if p.name != "__init__.py")
    return globbed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="source files (default: all configured)")
    parser.add_argument("--minutes", type=float, default=60.0, help="time cap (default 60)")
    parser.add_argument("--children", type=int, default=2, help="parallel mutants (default 2)")
    parser.add_argument("--report-only", action="store_true", help="score the last run")
    parser.add_argument("--no-diffs", action="store_true", help="list survivors without diffs")
    args = parser.parse_args()
    modules = args.modules or configured_modules()
    if not args.report_only:
        run_mutmut(args.modules or None, minutes=args.minutes, children=args.children)
    text = report(modules, with_diffs=not args.no_diffs)
    out = ROOT / "mutants" / "report.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text.split("\n## Survivors (")[0])
    print(f"report: {out}")


if __name__ == "__main__":
    main()
