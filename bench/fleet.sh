#!/usr/bin/env bash
# Benchmark: a fleet of sharing policies (`backup.vault.dedicated: false`)
# on the emulator, at two sizes in one run: the baseline (POLICIES/10) and
# the fleet (POLICIES, default 2,000). For each size:
#   1. the first `drctl reconcile`: stacks and vaults created, every policy
#      applied and drilled once (AWS calls, wall time);
#   2. a no-op `drctl reconcile --dry-run` (AWS calls: must not grow with
#      the fleet);
#   3. one policy's retention changed: the dry run's stacks to change (must
#      be one) and the reconcile that applies and proves it (AWS calls).
# Prints each figure at both sizes and the fleet/baseline ratio.
#   bench/fleet.sh                    # 2,000 policies against 200
#   POLICIES=500 bench/fleet.sh
#   DRCTL_BIN=target/release/drctl bench/fleet.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DRCTL_ROOT"
fleet="${POLICIES:-2000}"
baseline=$(( fleet / 10 ))
export DRCTL_EMULATOR_PORT="${DRCTL_EMULATOR_PORT:-4622}"

if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --quiet --bin drctl
    DRCTL_BIN="$DRCTL_ROOT/target/debug/drctl"
fi
drctl="$DRCTL_BIN"
ensure_venv
work="$(mktemp -d)"
trap 'scripts/emulator stop >/dev/null; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
now() { date +%s%N; }

# One run of the three steps at size $1 in a fresh emulator; prints
# "first_calls first_ms stacks vaults noop_calls noop_ms changed_stacks change_calls change_ms".
measure() {
    local count=$1 dir="$work/$1" url
    scripts/emulator stop >/dev/null 2>&1 || true
    scripts/emulator start >/dev/null
    url="$(scripts/emulator url)"
    mkdir -p "$dir/repo/desired"
    for i in $(seq -w 1 "$count"); do
        sed -e "s/name: render-jobs/name: jobs-$i/" -e "s/table: RenderJobs/table: Jobs$i/" \
            -e 's/^    retention: \(.*\)$/    retention: \1\n    vault: { dedicated: false }/' \
            desired/render-jobs.yaml > "$dir/repo/desired/jobs-$i.yaml"
    done
    git -C "$dir/repo" init -q && git -C "$dir/repo" add -A
    git -C "$dir/repo" -c user.name=bench -c user.email=bench@example.com commit -qm bench
    "$DRCTL_VENV/bin/python" bench/create_tables.py "$url" us-west-2 Jobs "$count"
    export DRCTL_STATE="$dir/state.json"
    local common=(--repo "$dir/repo" --endpoint-url "$url" --max-policies "$count" --concurrency 16)
    "$drctl" bootstrap --repo "$dir/repo" --endpoint-url "$url" --max-policies "$count" >/dev/null
    calls() { curl -fsS "$url/_drctl/calls" | "$DRCTL_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
    reset() { curl -fsS -X DELETE "$url/_drctl/calls" >/dev/null; }

    reset; local start; start=$(now)
    "$drctl" reconcile "${common[@]}" --format json > "$dir/first.json" \
        || { echo "the first reconcile failed:" >&2; head -c 3000 "$dir/first.json" >&2; exit 1; }
    local first_ms=$(( ($(now) - start) / 1000000 )) first_calls; first_calls=$(calls)
    local counts; counts=$("$DRCTL_VENV/bin/python" - "$url" <<'PY'
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-west-2", aws_access_key_id="testing", aws_secret_access_key="testing")
stacks = [s for p in boto3.client("cloudformation", **kw).get_paginator("describe_stacks").paginate() for s in p["Stacks"]]
vaults = boto3.client("backup", **kw).list_backup_vaults()["BackupVaultList"]
print(len([s for s in stacks if s["StackName"] != "drctl-bootstrap"]), len(vaults))
PY
)
    reset; start=$(now)
    "$drctl" reconcile --dry-run "${common[@]}" --format json > "$dir/noop.json"
    local noop_ms=$(( ($(now) - start) / 1000000 )) noop_calls; noop_calls=$(calls)

    sed -i 's/^    retention: .*$/    retention: 9d/' "$dir/repo/desired/jobs-$(printf "%0${#count}d" 1).yaml"
    git -C "$dir/repo" -c user.name=bench -c user.email=bench@example.com commit -qam change
    "$drctl" reconcile --dry-run "${common[@]}" --format json > "$dir/change-plan.json" || true
    local changed; changed=$("$DRCTL_VENV/bin/python" - "$dir/change-plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
shared = [s for s in plan.get("shared", []) if s["status"] != "unchanged"]
own = [s for p in plan["policies"] for s in p["stacks"] if s["status"] != "unchanged" and s["role"] not in ("vault", "plan")]
print(len(shared) + len(own))
PY
)
    reset; start=$(now)
    "$drctl" reconcile "${common[@]}" --format json > "$dir/change.json"
    local change_ms=$(( ($(now) - start) / 1000000 )) change_calls; change_calls=$(calls)
    echo "$first_calls $first_ms $counts $noop_calls $noop_ms $changed $change_calls $change_ms"
}

echo "measuring $baseline policies (baseline)..." >&2
read -r b_fc b_fm b_st b_va b_nc b_nm b_ch b_cc b_cm < <(measure "$baseline")
echo "measuring $fleet policies..." >&2
read -r f_fc f_fm f_st f_va f_nc f_nm f_ch f_cc f_cm < <(measure "$fleet")

row() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "  %-46s %10s %10s %8.2fx\n", n, a, b, (a > 0 ? b / a : 0) }'; }
echo "sharing policies, one Region, emulator (baseline $baseline, fleet $fleet, same run):"
printf '  %-46s %10s %10s %9s\n' "" "$baseline" "$fleet" "ratio"
row "first reconcile: AWS calls" "$b_fc" "$f_fc"
row "first reconcile: wall ms" "$b_fm" "$f_fm"
row "first reconcile: stacks created" "$b_st" "$f_st"
row "first reconcile: vaults created" "$b_va" "$f_va"
row "no-op dry run: AWS calls" "$b_nc" "$f_nc"
row "no-op dry run: wall ms" "$b_nm" "$f_nm"
row "one policy changed: stacks to change" "$b_ch" "$f_ch"
row "one policy changed: reconcile AWS calls" "$b_cc" "$f_cc"
row "one policy changed: reconcile wall ms" "$b_cm" "$f_cm"
