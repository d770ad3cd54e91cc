"""What runs inside sandboxes, and nothing else: the runner (loads the submission and exports each
case's program; see runner.py) and the executor (checks and runs exported programs and never loads
submission code; see executor.py). Only this package imports JAX or Flax, and it imports nothing else
of the grader's (tests/test_house.py enforces both). Its files are copied into each sandbox as one
folder and run as scripts; common.py is also read by the grader for the pinned settings, so it imports
no JAX at module level."""
