#!/usr/bin/env bash
# Benchmark: a fleet of sharing policies (`backup.vault.dedicated: false`)
# on the emulator, at two sizes in one run: the baseline (POLICIES/10) and
# the fleet (POLICIES, default 2,000). For each size:
#   1. the first `drctl reconcile`: stacks and vaults created, every policy
#      applied and drilled once (AWS calls, wall time);
#   2. a no-op `drctl reconcile --dry-run` (AWS calls: must not grow with
#      the fleet);
#   3. one policy's table changed (it stays in its group): the dry run's
#      stacks to change (must be one: its group's plan stack) and the
#      reconcile that applies and proves it (AWS calls);
#   4. one policy's retention changed (it moves to another group): stacks
#      to change (two: the group it leaves and the one it joins).
# Where the first reconcile's wall time goes is split into drctl's CPU and
# the emulator's (single-threaded Python: its CPU is the bound).
# Prints each figure at both sizes and the fleet/baseline ratio.
#   bench/fleet.sh                    # 2,000 policies against 200
#   POLICIES=500 bench/fleet.sh
#   STATE=file bench/fleet.sh         # a state file instead of a DynamoDB state table
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

# CPU seconds (user + system) the process $1 has used so far.
cpu_of() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

# One run of the steps at size $1 in a fresh emulator; prints
# "first_calls first_ms first_drctl_cpu first_emulator_cpu stacks vaults noop_calls noop_ms
#  changed_stacks change_calls change_ms moved_stacks".
measure() {
    local count=$1 dir="$work/$1" url emulator_pid
    scripts/emulator stop >/dev/null 2>&1 || true
    scripts/emulator start >/dev/null
    url="$(scripts/emulator url)"
    emulator_pid="$(cat ".emulator/$DRCTL_EMULATOR_PORT.pid")"
    mkdir -p "$dir/repo/desired"
    for i in $(seq -w 1 "$count"); do
        sed -e "s/name: render-jobs/name: jobs-$i/" -e "s/table: RenderJobs/table: Jobs$i/" \
            -e 's/^    retention: \(.*\)$/    retention: \1\n    vault: { dedicated: false }/' \
            desired/render-jobs.yaml > "$dir/repo/desired/jobs-$i.yaml"
    done
    git -C "$dir/repo" init -q && git -C "$dir/repo" add -A
    git -C "$dir/repo" -c user.name=bench -c user.email=bench@example.com commit -qm bench
    "$DRCTL_VENV/bin/python" bench/create_tables.py "$url" us-west-2 Jobs "$count"
    "$DRCTL_VENV/bin/python" bench/create_tables.py "$url" us-west-2 Moved 1
    local bootstrap=(bootstrap --repo "$dir/repo" --endpoint-url "$url" --max-policies "$count")
    if [[ "${STATE:-dynamodb}" == file ]]; then
        export DRCTL_STATE="$dir/state.json"
    else
        export DRCTL_STATE="dynamodb://drctl-state" DRCTL_STATE_REGION=us-west-2
        bootstrap+=(--state-table us-west-2:drctl-state)
    fi
    local common=(--repo "$dir/repo" --endpoint-url "$url" --max-policies "$count" --concurrency 16)
    "$drctl" "${bootstrap[@]}" >/dev/null
    calls() { curl -fsS "$url/_drctl/calls" | "$DRCTL_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
    reset() { curl -fsS -X DELETE "$url/_drctl/calls" >/dev/null; }
    commit() { git -C "$dir/repo" -c user.name=bench -c user.email=bench@example.com commit -qam "$1"; }
    # The stacks a dry run would change, shared and own.
    to_change() {
        "$drctl" reconcile --dry-run "${common[@]}" --format json > "$dir/$1.json" || true
        "$DRCTL_VENV/bin/python" - "$dir/$1.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
shared = [s for s in plan.get("shared", []) if s["status"] != "unchanged"]
own = [s for p in plan["policies"] for s in p["stacks"] if s["status"] != "unchanged" and s["role"] not in ("vault", "plan")]
print(len(shared) + len(own))
PY
    }

    reset; local start emulator_cpu; start=$(now); emulator_cpu=$(cpu_of "$emulator_pid")
    /usr/bin/time -f "%U %S" -o "$dir/first.time" "$drctl" reconcile "${common[@]}" --format json > "$dir/first.json" \
        || { echo "the first reconcile failed:" >&2; head -c 3000 "$dir/first.json" >&2; exit 1; }
    local first_ms=$(( ($(now) - start) / 1000000 )) first_calls first_cpu first_emulator_cpu
    first_calls=$(calls)
    first_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$dir/first.time")
    first_emulator_cpu=$(awk -v a="$emulator_cpu" -v b="$(cpu_of "$emulator_pid")" 'BEGIN { printf "%.2f", b - a }')
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

    local first; first="$dir/repo/desired/jobs-$(printf "%0${#count}d" 1).yaml"
    sed -i "s/table: Jobs[0-9]*/table: Moved1/" "$first"
    commit table
    local changed; changed=$(to_change table-plan)
    reset; start=$(now)
    "$drctl" reconcile "${common[@]}" --format json > "$dir/change.json" \
        || { echo "the reconcile of the changed table failed:" >&2; head -c 3000 "$dir/change.json" >&2; exit 1; }
    local change_ms=$(( ($(now) - start) / 1000000 )) change_calls; change_calls=$(calls)
    echo "$count policies, one table changed, the reconcile's calls by operation:" >&2
    curl -fsS "$url/_drctl/calls" | "$DRCTL_VENV/bin/python" -c '
import json, sys
report = json.load(sys.stdin)
counts = report.get("by_operation") or report.get("calls") or {}
for op, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8]:
    print(f"  {n:6d} {op}", file=sys.stderr)' || true

    sed -i 's/^    retention: .*$/    retention: 9d/' "$first"
    commit retention
    local moved; moved=$(to_change retention-plan)
    echo "$first_calls $first_ms $first_cpu $first_emulator_cpu $counts $noop_calls $noop_ms $changed $change_calls $change_ms $moved"
}

echo "measuring $baseline policies (baseline)..." >&2
read -r b_fc b_fm b_fd b_fe b_st b_va b_nc b_nm b_ch b_cc b_cm b_mv < <(measure "$baseline")
echo "measuring $fleet policies..." >&2
read -r f_fc f_fm f_fd f_fe f_st f_va f_nc f_nm f_ch f_cc f_cm f_mv < <(measure "$fleet")

row() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "  %-46s %10s %10s %8.2fx\n", n, a, b, (a > 0 ? b / a : 0) }'; }
echo "sharing policies, one Region, emulator, ${STATE:-dynamodb} state (baseline $baseline, fleet $fleet, same run):"
printf '  %-46s %10s %10s %9s\n' "" "$baseline" "$fleet" "ratio"
row "first reconcile: AWS calls" "$b_fc" "$f_fc"
row "first reconcile: wall ms" "$b_fm" "$f_fm"
row "first reconcile: drctl CPU s" "$b_fd" "$f_fd"
row "first reconcile: emulator CPU s" "$b_fe" "$f_fe"
row "first reconcile: stacks created" "$b_st" "$f_st"
row "first reconcile: vaults created" "$b_va" "$f_va"
row "no-op dry run: AWS calls" "$b_nc" "$f_nc"
row "no-op dry run: wall ms" "$b_nm" "$f_nm"
row "one table changed: stacks to change" "$b_ch" "$f_ch"
row "one table changed: reconcile AWS calls" "$b_cc" "$f_cc"
row "one table changed: reconcile wall ms" "$b_cm" "$f_cm"
row "one retention changed: stacks to change" "$b_mv" "$f_mv"
