"""Judging, in the grader process: golden cases, comparison with tolerance, the structure checks,
the known wrong variants, typed reasons, feedback, the drift check, and the one Verdict type with its
renderers."""
