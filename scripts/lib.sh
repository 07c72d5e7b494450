# Shared helpers of drctl's scripts; source it, don't run it.
# shellcheck shell=bash

DRCTL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRCTL_VENV="$DRCTL_ROOT/.venv"
DRCTL_REQUIREMENTS="$DRCTL_ROOT/emulator/requirements.txt"

# ensure_venv: create .venv at the repository root with the emulator's pinned
# requirements; recreate it only when emulator/requirements.txt changed.
ensure_venv() {
    local want have=""
    want="$(sha256sum "$DRCTL_REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -f "$DRCTL_VENV/.requirements.sha256" ]]; then
        have="$(cat "$DRCTL_VENV/.requirements.sha256")"
    fi
    if [[ -x "$DRCTL_VENV/bin/python" && "$want" == "$have" ]]; then
        return 0
    fi
    echo "drctl: creating $DRCTL_VENV from emulator/requirements.txt" >&2
    rm -rf "$DRCTL_VENV"
    python3 -m venv "$DRCTL_VENV"
    "$DRCTL_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$DRCTL_REQUIREMENTS" >&2
    echo "$want" > "$DRCTL_VENV/.requirements.sha256"
}
