#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built (Ubuntu 22.04 base), with the
# zip extracted in /autograder/source. It cannot be run on the bundle's development machine (no Docker
# engine there): verify it on Gradescope with "Test Autograder" (docs/platforms.md).
#
# The system python3 (3.10) belongs to Gradescope's harness and is left alone. The pinned packages
# need Python >= 3.11, so python3.11 comes from apt (Ubuntu's universe, else the deadsnakes PPA) and
# the venv is built from /usr/bin/python3.11, usable by the sandbox's unprivileged uids.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$SRC/.venv"
export DEBIAN_FRONTEND=noninteractive

apt-get update -q
apt-get install -y -q --no-install-recommends bubblewrap ca-certificates
if ! apt-get install -y -q --no-install-recommends python3.11 python3.11-venv; then
  apt-get install -y -q --no-install-recommends software-properties-common gnupg
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update -q
  apt-get install -y -q --no-install-recommends python3.11 python3.11-venv
fi
/usr/bin/python3.11 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'

# Exactly the lock: it is complete (pip freeze of the dev venv equals it), so --no-deps adds nothing.
/usr/bin/python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$SRC/requirements.lock"
"$VENV/bin/python" -m pip check

# The sandbox runs each grading as its own uid, drawn at random from 2^20..2^31-1 (no passwd entry
# needed; a named account, or a uid owning a process, a file in /tmp or an IPC object, is never
# drawn). Other containers on the same kernel draw from the same range, so the range must be real
# here: a user-namespaced container (userns-remap, rootless) may map only 65536 ids, and then the
# grader draws above 10000 among those. Refuse a machine that maps neither.
if ! (cd "$SRC" && "$VENV/bin/python" -c 'import sys; from grader.host.isolation import uid_ranges; r = uid_ranges(); print("setup.sh: sandbox uids drawn from", r); sys.exit(not r)'); then
  echo "setup.sh: this container maps no uid range the grader's sandbox can draw from (see /proc/self/uid_map)" >&2
  exit 1
fi

# Permissions: the venv readable by everyone (the sandboxed uid runs it); nothing writable by others;
# the reference and golden data unreadable to others (the grader re-checks this at grading time).
chmod -R a+rX,go-w "$SRC"
chmod -R o-rwx "$SRC/reference" "$SRC/tests"

cd "$SRC"
# Warm JAX's persistent compilation cache when this bundle's grader offers it.
if "$VENV/bin/python" -m grader --help 2>/dev/null | grep -qE "[{,]warm[,}]"; then
  "$VENV/bin/python" -m grader warm
fi
# Smoke test: the reference must get AC on the public cases in this image, or the build fails here
# rather than on the first student.
"$VENV/bin/python" -m grader grade reference/solution.py --cases public --json /tmp/smoke.json
grep -q '"verdict": "AC"' /tmp/smoke.json
rm -f /tmp/smoke.json
echo "setup.sh: grader ready ($("$VENV/bin/python" --version), isolation probe ran in the smoke test)"
