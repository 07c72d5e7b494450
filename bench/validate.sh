#!/usr/bin/env bash
# Benchmark: `drctl validate` over 1,000 generated policies (POLICIES=2000
# for a larger fleet, up to 2,000), on one core, without guardrails and with
# 50 guardrail rules (desired/_guardrails.yaml), AWS Backup's quotas judged.
# Target: under 0.5 s for 1,000 policies and 50 rules. Reports the median
# of 5 runs and, as the in-run baseline, the time of `drctl validate` over
# the example policies (process start-up and git access, which do not grow
# with policies).
#   bench/validate.sh            # builds release (slow the first time)
#   DRCTL_BIN=target/debug/drctl bench/validate.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
POLICIES="${POLICIES:-1000}"
if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --release --quiet
    DRCTL_BIN=target/release/drctl
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/many/desired" "$work/ruled/desired" "$work/few/desired"
cp desired/*.yaml "$work/few/desired/"
regions=(us-east-1 us-east-2 eu-west-1 eu-central-1 ap-southeast-2)
for i in $(seq -w 1 "$POLICIES"); do
    region="${regions[$((10#$i % 5))]}"
    sed -e "s/name: spatial-scans/name: scans-$i/" -e "s/table: SpatialScans/table: Scans$i/" \
        -e "s/region: us-east-1/region: $region/" -e "s/\[us-east-1, us-west-2\]/[$region, us-west-2]/" \
        desired/spatial-scans.yaml > "$work/many/desired/scans-$i.yaml"
done
cp "$work"/many/desired/*.yaml "$work/ruled/desired/"
# 50 rules, each selecting by environment, name pattern or owner and
# requiring what the generated policies meet (so every rule is evaluated
# in full against every policy it selects), plus one exception.
{
    printf 'apiVersion: drctl/v1\nkind: Guardrails\nrules:\n'
    selects=('{ environments: [prod] }' '{ names: ["scans-*"] }' '{ owners: [team-3d] }' '{ names: ["scans-0*", "scans-1*"], environments: [prod, staging] }' '{}')
    requires=('{ max_rpo: 1d, max_rto: 4h }' '{ min_retention: 14d, min_copy_retention: 30d }' '{ copy_to_another_region: true, drill_in_copy_region: true }'
        '{ vault_lock: { min_retention: 7d }, pitr: true }' '{ max_verify_every: 30d, checks: [item_count, sample] }')
    for i in $(seq -w 1 50); do
        printf '  - id: rule-%s\n    reason: benchmark\n    owner: platform\n    select: %s\n    require: %s\n' \
            "$i" "${selects[$((10#$i % 5))]}" "${requires[$((10#$i / 5 % 5))]}"
    done
    printf 'exceptions:\n  - { rule: rule-01, policy: scans-0001, reason: benchmark, approved_by: platform, expires: "2999-12-31" }\n'
} > "$work/ruled/desired/_guardrails.yaml"
for dir in many ruled few; do
    git -C "$work/$dir" init -q && git -C "$work/$dir" add -A
    git -C "$work/$dir" -c user.name=bench -c user.email=bench@example.com commit -qm bench
done

# Every generated policy copies to us-west-2: 1,000 vaults there, beyond
# AWS Backup's default quota of 300. validate judges the quotas; the
# benchmark's account has raised them.
export DRCTL_AWS_QUOTAS=backup-vaults=$POLICIES,backup-plans=$POLICIES

median_seconds() {
    local dir=$1 times=()
    for _ in 1 2 3 4 5; do
        local start end
        start=$(date +%s%N)
        taskset -c 0 "$DRCTL_BIN" validate --max-policies 2000 --repo "$dir" >/dev/null
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{ printf "%.3f", $1 / 1e6 }'
}

"$DRCTL_BIN" validate --max-policies 2000 --repo "$work/ruled" >"$work/ruled.out" || { tail -n 5 "$work/ruled.out" >&2; echo "the generated policies do not all meet the generated rules" >&2; exit 1; }
many=$(median_seconds "$work/many")
ruled=$(median_seconds "$work/ruled")
few=$(median_seconds "$work/few")
echo "validate, $POLICIES policies, one core: ${many} s"
echo "validate, $POLICIES policies and 50 guardrail rules, one core: ${ruled} s (target < 0.5 s for 1000)"
echo "baseline, the examples (start-up and git): ${few} s"
awk -v m="$many" -v r="$ruled" -v f="$few" -v n="$POLICIES" 'BEGIN {
    printf "per policy beyond the baseline: %.3f ms; with 50 rules: %.3f ms\n", (m - f) * 1000 / n, (r - f) * 1000 / n
    printf "ratio %d policies / examples: %.1fx; 50 rules / none: %.2fx\n", n, m / f, r / m
}'
