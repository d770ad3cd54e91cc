"""Hostile (a leak, not a crash): raises with the case's input x printed in full in its message, on
every case. A public case's message shows the exception's text, as it should (the public inputs are
in the handout); a hidden case's message says only the grader's own sentence and the exception's
type ("your function raised ValueError on this hidden case"), so no hidden x reaches the verdict,
Gradescope's after_published rows, PrairieLearn or the terminal report. RTE: the function raises."""
# grade: all
def lax_scan_in_module(seed, x, hidden, T):
    values = [float(v) for v in x]          # concrete only in the plain call (export falls back)
    raise ValueError("the input was " + ", ".join(f"{v:.9g}" for v in values))
