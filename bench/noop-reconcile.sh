#!/usr/bin/env bash
# Benchmark: a no-op `drctl reconcile` of 200 deployed policies on the
# emulator, against a loop of `aws cloudformation deploy
# --no-execute-changeset` (the AWS CLI pinned in .venv) over the same
# stacks, in one run. Reports AWS calls (counted by the emulator) and wall
# time of both, and their ratios.
#   bench/noop-reconcile.sh          # 200 policies
#   POLICIES=50 bench/noop-reconcile.sh
#   DRCTL_BIN=target/release/drctl bench/noop-reconcile.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DRCTL_ROOT"
count="${POLICIES:-200}"
export DRCTL_EMULATOR_PORT="${DRCTL_EMULATOR_PORT:-4621}"

if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --quiet
    DRCTL_BIN="$DRCTL_ROOT/target/debug/drctl"
fi
drctl="$DRCTL_BIN"
scripts/emulator start >/dev/null
trap 'scripts/emulator stop >/dev/null; rm -rf "$work"' EXIT
url="$(scripts/emulator url)"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
curl -fsS -X POST "$url/_drctl/reset" -d '{}' >/dev/null

work="$(mktemp -d)"
mkdir -p "$work/repo/desired" "$work/templates"
for i in $(seq -w 1 "$count"); do
    # One region, no copies, PITR unmanaged: the stacks alone are measured.
    sed -e "s/name: render-jobs/name: jobs-$i/" -e "s/table: RenderJobs/table: Jobs$i/" \
        desired/render-jobs.yaml > "$work/repo/desired/jobs-$i.yaml"
done
git -C "$work/repo" init -q && git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm bench

# The tables (empty: their drills are quick), then the first reconcile
# deploys and proves every policy; the measured one finds nothing to do.
"$DRCTL_VENV/bin/python" bench/create_tables.py "$url" us-west-2 Jobs "$count"
export DRCTL_STATE="$work/state.json"
"$drctl" bootstrap --repo "$work/repo" --endpoint-url "$url" >/dev/null
echo "deploying and proving $count policies..."
"$drctl" reconcile --repo "$work/repo" --endpoint-url "$url" --format json > "$work/deploy.json" \
    || { echo "the deploy failed:" >&2; head -c 3000 "$work/deploy.json" >&2; exit 1; }
"$drctl" render --repo "$work/repo" --format json --out "$work/templates" >/dev/null

calls() { curl -fsS "$url/_drctl/calls" | "$DRCTL_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
now() { date +%s%N; }

curl -fsS -X DELETE "$url/_drctl/calls" >/dev/null
start=$(now)
"$drctl" reconcile --repo "$work/repo" --endpoint-url "$url" --format json >/dev/null
drctl_ms=$(( ($(now) - start) / 1000000 ))
drctl_calls=$(calls)

curl -fsS -X DELETE "$url/_drctl/calls" >/dev/null
start=$(now)
for template in "$work/templates"/*.json; do
    stack="$(basename "$template" .us-west-2.json)"
    "$DRCTL_VENV/bin/aws" cloudformation deploy --endpoint-url "$url" --region us-west-2 \
        --template-file "$template" --stack-name "$stack" --capabilities CAPABILITY_IAM \
        --no-execute-changeset >/dev/null 2>&1 || true
done
cli_ms=$(( ($(now) - start) / 1000000 ))
cli_calls=$(calls)

echo "no-op reconcile of $count deployed policies (emulator, same run):"
printf '  %-44s %6s AWS calls %8s ms\n' "drctl reconcile" "$drctl_calls" "$drctl_ms" \
    "aws cloudformation deploy --no-execute-changeset" "$cli_calls" "$cli_ms"
awk -v a="$drctl_calls" -v b="$cli_calls" -v c="$drctl_ms" -v d="$cli_ms" \
    'BEGIN { printf "  ratio (baseline / drctl): %.1fx fewer calls, %.1fx faster\n", b / a, d / c }'
