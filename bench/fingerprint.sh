#!/usr/bin/env bash
# Benchmark: drctl's fingerprint check (`drctl fingerprint`, the drill's
# `fingerprint: match` alone) on a 100,000-item table (~300-byte items)
# against a plain boto3 parallel scan + SHA-256 (bench/fingerprint_boto3.py),
# in one run, on the same table, on an emulator of its own. Reports client
# CPU per item (user + sys) and its ratio, peak RSS of both (drctl's at 20k,
# 50k and 100k items), and wall time of both against the server's own bound:
# the faster of two raw parallel Scans of the table with no client work,
# interleaved with two runs of each client. Both clients must agree on the
# fingerprint. bench/README.md says why CPU per item is the figure.
#   bench/fingerprint.sh                       # builds release (slow the first time)
#   ITEMS=50000 MID_ITEMS=20000 SMALL_ITEMS=10000 SEGMENTS=4 bench/fingerprint.sh
#   DRCTL_BIN=target/release/drctl BENCH_PORT=4612 bench/fingerprint.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DRCTL_ROOT"
items="${ITEMS:-100000}"
small="${SMALL_ITEMS:-20000}"
mid="${MID_ITEMS:-50000}"
segments="${SEGMENTS:-8}"
port="${BENCH_PORT:-4611}"
table=FingerprintBench
(( small < mid && mid < items )) || { echo "need SMALL_ITEMS ($small) < MID_ITEMS ($mid) < ITEMS ($items)" >&2; exit 2; }

if [[ -z "${DRCTL_BIN:-}" ]]; then
    cargo build --release --quiet --bin drctl
    DRCTL_BIN="$DRCTL_ROOT/target/release/drctl"
fi
ensure_venv
py="$DRCTL_VENV/bin/python"
url="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$url"

answers() { curl -fsS -o /dev/null --max-time 2 "$url/_drctl/health" 2>/dev/null; }
if answers; then
    echo "something already answers at $url: set BENCH_PORT to a free port" >&2
    exit 1
fi
# The server is started here, not through scripts/emulator, so that its
# pid is this run's own: the shared emulator is never touched.
work="$(mktemp -d)"
"$py" emulator/server.py --host 127.0.0.1 --port "$port" >"$work/emulator.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do answers && break; sleep 0.3; done
answers || { echo "the emulator did not start at $url:" >&2; tail -n 20 "$work/emulator.log" >&2; exit 1; }

now() { date +%s%N; }

# measure NAME CMD...: runs CMD under /usr/bin/time; leaves "user sys maxrss_kb wall"
# in $work/NAME.time and CMD's stdout in $work/NAME.out.
measure() {
    local name=$1
    shift
    /usr/bin/time -f '%U %S %M %e' -o "$work/$name.time" "$@" >"$work/$name.out"
}
field() { awk -v n="$2" '{ print $n }' "$work/$1.time"; }
json() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/$1.out" "$2"; }

load() {
    local start=$1 count=$2 began
    began=$(now)
    "$py" bench/fingerprint_boto3.py load "$table" "$start" "$count"
    echo "  loaded items $start..$((start + count)) in $(( ($(now) - began) / 1000000000 )) s"
}

run_clients() {
    local label=$1 expected=$2
    measure "drctl-$label" "$DRCTL_BIN" fingerprint "$table" --region us-east-1 --segments "$segments" --format json
    measure "boto3-$label" "$py" bench/fingerprint_boto3.py hash "$table" "$segments"
    local a b
    a="$(json "drctl-$label" fingerprint)" b="$(json "boto3-$label" fingerprint)"
    [[ "$a" == "$b" ]] || { echo "fingerprints differ at $label: drctl $a, boto3 $b" >&2; exit 1; }
    for client in drctl boto3; do
        [[ "$(json "$client-$label" items)" == "$expected" ]] \
            || { echo "$client counted $(json "$client-$label" items) items, expected $expected" >&2; exit 1; }
    done
}

echo "loading $items items into $table (batch writes through boto3)..."
load 0 "$small"
echo "clients at $small items..."
run_clients small "$small"
load "$small" "$((mid - small))"
echo "drctl alone at $mid items (memory)..."
measure drctl-mid "$DRCTL_BIN" fingerprint "$table" --region us-east-1 --segments "$segments" --format json
[[ "$(json drctl-mid items)" == "$mid" ]] || { echo "drctl counted $(json drctl-mid items) items, expected $mid" >&2; exit 1; }
load "$mid" "$((items - mid))"
# Two rounds of (server bound, drctl, boto3): the machine is shared, so each
# figure is the better of two runs interleaved with the others.
for round in 1 2; do
    echo "round $round at $items items: server bound, drctl, boto3..."
    measure "bound-$round" "$py" bench/fingerprint_boto3.py scan "$table" "$segments"
    [[ "$(json "bound-$round" items)" == "$items" ]] || { echo "the raw scan counted $(json "bound-$round" items) items" >&2; exit 1; }
    run_clients "large$round" "$items"
done

# min A B
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
cpu() { awk -v u="$(field "$1" 1)" -v s="$(field "$1" 2)" 'BEGIN { print u + s }'; }
bound=$(min "$(json bound-1 seconds)" "$(json bound-2 seconds)")
# row NAME COUNT CPU_SECONDS RSS_KB PROCESS_WALL SCAN_SECONDS [BOUND]
row() {
    awk -v name="$1" -v n="$2" -v c="$3" -v m="$4" -v w="$5" -v t="$6" -v b="${7:-}" \
        'BEGIN { printf "  %-22s %7d %11.1f %12.1f %8.1f %8.1f", name, n, c * 1e6 / n, m / 1024, w, t;
                 if (b != "") printf " %8.3f", t / b; printf "\n" }'
}
large() { # large CLIENT FIELD: the better of the two rounds
    case $2 in
        cpu) min "$(cpu "$1-large1")" "$(cpu "$1-large2")" ;;
        rss) awk -v a="$(field "$1-large1" 3)" -v b="$(field "$1-large2" 3)" 'BEGIN { print (a > b ? a : b) }' ;;
        wall) min "$(field "$1-large1" 4)" "$(field "$1-large2" 4)" ;;
        scan) min "$(json "$1-large1" seconds)" "$(json "$1-large2" seconds)" ;;
    esac
}

echo
echo "fingerprint, ~300-byte items, $segments segments, emulator (moto) on :$port, one run"
echo "(at $items items: best of two rounds; RSS: the larger of the two):"
printf '  %-22s %7s %11s %12s %8s %8s %8s\n' client items "CPU µs/item" "peak RSS MiB" "wall s" "scan s" "/ bound"
for client in drctl boto3; do
    name="drctl fingerprint"
    [[ $client == boto3 ]] && name="boto3 scan + SHA-256"
    row "$name" "$small" "$(cpu "$client-small")" "$(field "$client-small" 3)" "$(field "$client-small" 4)" "$(json "$client-small" seconds)"
done
for client in drctl boto3; do
    name="drctl fingerprint"
    [[ $client == boto3 ]] && name="boto3 scan + SHA-256"
    row "$name" "$items" "$(large "$client" cpu)" "$(large "$client" rss)" "$(large "$client" wall)" "$(large "$client" scan)" "$bound"
done
printf '  server bound (raw parallel Scan, no client work): %.1f s (rounds: %.1f s, %.1f s)\n' \
    "$bound" "$(json bound-1 seconds)" "$(json bound-2 seconds)"
printf '  drctl rounds: %.1f s, %.1f s; boto3 rounds: %.1f s, %.1f s\n' "$(json drctl-large1 seconds)" "$(json drctl-large2 seconds)" \
    "$(json boto3-large1 seconds)" "$(json boto3-large2 seconds)"
awk -v d="$(large drctl cpu)" -v b="$(large boto3 cpu)" 'BEGIN { printf "  CPU per item, boto3 / drctl: %.1fx\n", b / d }'
awk -v s="$(field drctl-small 3)" -v m="$(field drctl-mid 3)" -v l="$(large drctl rss)" -v ns="$small" -v nm="$mid" -v nl="$items" \
    'BEGIN { printf "  drctl peak RSS: %.1f MiB at %d items, %.1f MiB at %d, %.1f MiB at %d (x%.2f for x%.0f items)\n",
             s / 1024, ns, m / 1024, nm, l / 1024, nl, l / s, nl / ns }'
echo "  fingerprint (both clients agree): $(json drctl-large1 fingerprint)"
