#!/usr/bin/env bash
# Benchmark: `drctl report` (HTML and JSON) over 500 policies with 50 drills
# each in the history (25,000 drills, two regions each), on one core.
# Targets: under 2 s and under 5 MB for the page. The in-run baseline is
# `drctl status` over the same state (reading the policies and the state,
# judging compliance): what the report adds is the history and the page.
#   bench/report.sh            # builds release (slow the first time)
#   DRCTL_BIN=target/debug/drctl bench/report.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --release --quiet
    DRCTL_BIN=target/release/drctl
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/desired"
for i in $(seq -w 1 500); do
    sed -e "s/name: spatial-scans/name: scans-$i/" -e "s/table: SpatialScans/table: Scans$i/" \
        desired/spatial-scans.yaml > "$work/repo/desired/scans-$i.yaml"
done
git -C "$work/repo" init -q && git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm bench

# The state and its history as drctl writes them: a weekly drill of every
# policy for 50 weeks, one in ten failed, each with its jobs and checks.
python3 - "$work/state.json" <<'PY'
import json, sys, time
now = int(time.time())
week = 7 * 86400
state_path = sys.argv[1]
policies, lines = {}, []
def drill(name, i, at):
    passed = i % 10 != 3
    region = lambda r, rto: {
        "region": r, "passed": passed, "rto_seconds": rto, "rto_objective_seconds": 3600,
        "rpo_seconds": rto * 4, "rpo_objective_seconds": 28800,
        "recovery_point_arn": f"arn:aws:backup:{r}:123456789012:recovery-point:{name}-{i}",
        "backup_job_id": f"backup-{name}-{i}", "copy_job_id": None, "restore_job_id": f"restore-{name}-{i}-{r}",
        "scratch_table": f"drctl-drill-{name}-{i:08x}",
        "checks": [{"name": c, "passed": passed, "reason": f"{c}: 500 of 500 items"} for c in ("status", "schema", "item_count", "sample", "canary")],
    }
    return {
        "drill_id": f"{i:016x}", "started": at - 600, "finished": at, "content_hash": "h", "commit": "c0ffee" * 6 + "c0ff",
        "passed": passed, "regions": [region("us-east-1", 60.0 + i), region("us-west-2", 90.0 + i)],
        "reasons": [] if passed else ["us-west-2: item_count: 3 items restored, 301 in the source"],
    }
for p in range(1, 501):
    name = f"scans-{p:03d}"
    last = None
    for i in range(50):
        at = now - (50 - i) * week + p * 60
        d = drill(name, i, at)
        evidence = {"commit": d["commit"], "content_hash": "h", "at": at,
                    "change_sets": [{"stack": f"drctl-{name}", "region": "us-east-1", "change_set_id": f"arn:aws:cloudformation:us-east-1:123456789012:changeSet/drctl-apply-{i}/x"}],
                    "drill": d, "sns_message_id": f"{name}-{i}"}
        lines.append(json.dumps({"policy": name, "evidence": evidence}))
        last = d
    policies[name] = {"policy": name, "version": 50, "desired_hash": None, "applied": None, "last_drill": last,
                      "reconciled": {"content_hash": "h", "commit": last["commit"], "at": last["finished"]},
                      "in_flight": None, "lease": None}
with open(state_path, "w") as f:
    json.dump({"format_version": 1, "policies": policies}, f)
with open(state_path + ".history.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
PY

median_seconds() {
    local times=()
    for _ in 1 2 3; do
        local start end
        start=$(date +%s%N)
        taskset -c 0 "$DRCTL_BIN" "$@" >/dev/null
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p | awk '{ printf "%.3f", $1 / 1e6 }'
}

common=(--repo "$work/repo" --state "$work/state.json" --max-policies 1000)
html=$(median_seconds report "${common[@]}" --out "$work/report.html")
json=$(median_seconds report "${common[@]}" --format json --out "$work/report.json")
status=$(median_seconds status "${common[@]}")
size=$(stat -c %s "$work/report.html")
echo "history: $(wc -l < "$work/state.json.history.jsonl") drills of 500 policies ($(stat -c %s "$work/state.json.history.jsonl") bytes)"
echo "report, HTML, one core: ${html} s (target < 2 s); page $((size / 1024)) KiB (target < 5 MB)"
echo "report, JSON, one core: ${json} s"
echo "baseline, status over the same state: ${status} s"
awk -v h="$html" -v s="$status" 'BEGIN { printf "ratio report / status: %.1fx\n", h / s }'
