"""Where a warm grading's time goes: grade the reference on the hidden cases through execute.run and
print when each frame arrived from each child (seconds since start; the child's slot uid tells the
runner from the executor). docs/speed-and-batch.md quotes it.
Usage: .venv/bin/python tools/phases.py [--cases hidden|public|all]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

T0 = time.monotonic()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.host import channel  # noqa: E402
from grader import execute  # noqa: E402
from grader.judge.cases import job_cases, load_golden  # noqa: E402
from grader.problem import load_problem  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="hidden", choices=("hidden", "public", "all"))
    args = ap.parse_args()
    problem = load_problem()
    cases = job_cases(load_golden(problem, args.cases).cases)
    events: list[tuple[float, int | None, str, str]] = []
    real_next = channel.Watch.next

    def spy(self, deadline):
        got = real_next(self, deadline)
        if isinstance(got, tuple):
            events.append((time.monotonic() - T0, self.box.uid, got[0]["type"], got[0].get("id") or ""))
        return got
    channel.Watch.next = spy
    start = time.monotonic()
    execute.run(problem, (ROOT / "reference" / "solution.py").read_bytes(), cases)
    names: dict[int | None, str] = {}
    for t, uid, kind, cid in events:
        who = names.setdefault(uid, f"child {len(names) + 1}")
        print(f"{t:7.3f}  {who}  {kind} {cid}")
    print(f"grader imports {start - T0:.2f} s, execute.run {time.monotonic() - start:.2f} s, "
          f"{len(cases)} cases")


if __name__ == "__main__":
    main()
