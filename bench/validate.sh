#!/usr/bin/env bash
# Benchmark: `drctl validate` over 1,000 generated policies, on one core.
# Target (issue 2): under 0.5 s. Reports the median of 5 runs and, as the
# in-run baseline, the time of `drctl validate` over the 3 example policies
# (process start-up and git access, which do not grow with policies).
#   bench/validate.sh            # builds release (slow the first time)
#   DRCTL_BIN=target/debug/drctl bench/validate.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --release --quiet
    DRCTL_BIN=target/release/drctl
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/many/desired" "$work/few/desired"
cp desired/*.yaml "$work/few/desired/"
regions=(us-east-1 us-east-2 eu-west-1 eu-central-1 ap-southeast-2)
for i in $(seq -w 1 1000); do
    region="${regions[$((10#$i % 5))]}"
    sed -e "s/name: spatial-scans/name: scans-$i/" -e "s/table: SpatialScans/table: Scans$i/" \
        -e "s/region: us-east-1/region: $region/" -e "s/\[us-east-1, us-west-2\]/[$region, us-west-2]/" \
        desired/spatial-scans.yaml > "$work/many/desired/scans-$i.yaml"
done
for dir in many few; do
    git -C "$work/$dir" init -q && git -C "$work/$dir" add -A
    git -C "$work/$dir" -c user.name=bench -c user.email=bench@example.com commit -qm bench
done

median_seconds() {
    local dir=$1 times=()
    for _ in 1 2 3 4 5; do
        local start end
        start=$(date +%s%N)
        taskset -c 0 "$DRCTL_BIN" validate --repo "$dir" >/dev/null
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{ printf "%.3f", $1 / 1e6 }'
}

many=$(median_seconds "$work/many")
few=$(median_seconds "$work/few")
echo "validate, 1000 policies, one core: ${many} s (target < 0.5 s)"
echo "baseline, 3 policies (start-up and git): ${few} s"
awk -v m="$many" -v f="$few" 'BEGIN { printf "per policy beyond the baseline: %.3f ms; ratio 1000 / 3 policies: %.1fx\n", (m - f) * 1000 / 997, m / f }'
