#!/usr/bin/env bash
# Benchmark: the live-table comparison of a drill (`drctl compare`: two
# point-in-time exports of the source read back, the restore scanned once,
# judged item for item) against what a user would write with boto3 for the
# same judgement (bench/live_table_boto3.py: the same two exports read into
# dictionaries, a parallel scan, the same rules), in one run, on the same
# tables, on an emulator of its own. Reports client CPU per item (user +
# sys) and its ratio, peak RSS of both at SMALL_ITEMS and ITEMS (drctl's
# should stay flat), and wall time. Both must agree on every count.
#   bench/live-table.sh                             # builds release (slow the first time)
#   ITEMS=50000 SMALL_ITEMS=10000 bench/live-table.sh
#   DRCTL_BIN=target/release/drctl BENCH_PORT=4613 bench/live-table.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DRCTL_ROOT"
items="${ITEMS:-100000}"
small="${SMALL_ITEMS:-20000}"
changes="${CHANGES:-500}"
segments="${SEGMENTS:-8}"
port="${BENCH_PORT:-4613}"
table=SpatialScans
(( small < items )) || { echo "need SMALL_ITEMS ($small) < ITEMS ($items)" >&2; exit 2; }

if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --release --quiet --bin drctl
    DRCTL_BIN="$DRCTL_ROOT/target/release/drctl"
fi
ensure_venv
py="$DRCTL_VENV/bin/python"
url="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$url"
control() { "$py" -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {"Content-Type": "application/json"}))' "$url/_drctl/$1" "$2"; }
answers() { "$py" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' "$url/_drctl/health" >/dev/null 2>&1; }
if answers; then
    echo "something already answers at $url: set BENCH_PORT to a free port" >&2
    exit 1
fi
work="$(mktemp -d)"
"$py" emulator/server.py --host 127.0.0.1 --port "$port" >"$work/emulator.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do answers && break; sleep 0.3; done
answers || { echo "the emulator did not start at $url:" >&2; tail -n 20 "$work/emulator.log" >&2; exit 1; }
control pitr '{"lag_seconds": 0}'

echo "== bootstrap (the export bucket) from the example policies"
"$DRCTL_BIN" bootstrap --repo "$DRCTL_ROOT" >/dev/null
bucket="drctl-exports-123456789012-us-east-1"

measure() {
    local name=$1
    shift
    /usr/bin/time -f '%U %S %M %e' -o "$work/$name.time" "$@" >"$work/$name.out"
}
field() { awk -v n="$2" '{ print $n }' "$work/$1.time"; }
get() { "$py" -c 'import json,sys; print(eval(sys.argv[2], {}, {"r": json.load(open(sys.argv[1]))}))' "$work/$1.out" "$2"; }

round() {
    local label=$1 count=$2 restored="$table-restored-$1"
    "$py" bench/live_table_boto3.py prepare "$table" "$restored" "$changes" >"$work/window-$label.json"
    local from to
    from="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["from"])' "$work/window-$label.json")"
    to="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["to"])' "$work/window-$label.json")"
    measure "drctl-$label" "$DRCTL_BIN" compare "$table" "$restored" --from "$from" --to "$to" --segments "$segments" --format json
    measure "boto3-$label" "$py" bench/live_table_boto3.py compare "$table" "$restored" "$from" "$to" "$bucket" "$segments"
    [[ "$(get "drctl-$label" 'r["passed"]')" == True && "$(get "boto3-$label" 'r["passed"]')" == True ]] \
        || { echo "a client judged the good restore different:" >&2; cat "$work/drctl-$label.out" "$work/boto3-$label.out" >&2; exit 1; }
    local d_changed b_changed d_restored b_restored
    d_changed="$(get "drctl-$label" 'r["reference"]["changed_in_window"]')" b_changed="$(get "boto3-$label" 'r["changed_in_window"]')"
    d_restored="$(get "drctl-$label" 'r["checks"][0]["numbers"]["restored"]')" b_restored="$(get "boto3-$label" 'r["restored"]')"
    [[ "$d_changed" == "$b_changed" && "$d_restored" == "$b_restored" && "$d_restored" == "$count" ]] \
        || { echo "counts differ: drctl $d_restored restored / $d_changed changed, boto3 $b_restored / $b_changed, expected $count" >&2; exit 1; }
    for client in drctl boto3; do
        local cpu
        cpu="$(awk '{ print $1 + $2 }' "$work/$client-$label.time")"
        printf '  %-6s %7d items %5d changed  CPU %7.1f µs/item  peak RSS %7.1f MiB  wall %6.1f s\n' \
            "$client" "$count" "$d_changed" "$(echo "$cpu * 1000000 / $count" | bc -l)" \
            "$(echo "$(field "$client-$label" 3) / 1024" | bc -l)" "$(field "$client-$label" 4)"
    done
    echo "  CPU per item boto3 / drctl: $(echo "($(awk '{ print $1 + $2 }' "$work/boto3-$label.time")) / ($(awk '{ print $1 + $2 }' "$work/drctl-$label.time"))" | bc -l | cut -c1-5)x"
}

echo "== $small items"
"$py" bench/fingerprint_boto3.py load "$table" 0 "$small"
round small "$small"
echo "== $items items"
"$py" bench/fingerprint_boto3.py load "$table" "$small" "$((items - small))"
round large "$items"
