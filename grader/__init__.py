"""Autograder for the exercise "jax.lax.scan inside a Flax Module".

Pipeline (one module per stage): problem -> submission -> cases -> sandbox/runner -> compare -> verdict,
with feedback and the platform adapters mapping from the native verdict. The grader process itself
never imports JAX, the submission or the reference.
"""
import argparse
from pathlib import Path

BUNDLE_ROOT = Path(__file__).resolve().parent.parent


class GraderError(Exception):
    """Root of every error the grader raises on purpose."""

    exit_code = 3


class UsageError(GraderError):
    """The operator's mistake (bad path, bad flag, bad problem.yaml): one line, exit 2."""

    exit_code = 2


class JudgeError(GraderError):
    """The grader or its environment failed; never the student's fault: verdict JE, exit 3."""

    exit_code = 3


class Parser(argparse.ArgumentParser):
    """Every command's parser: a bad flag is the operator's mistake, one line and exit 2, no usage dump."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")
