#!/usr/bin/env bash
# Seeds the load_policy corpus (fuzz/corpus/load_policy, not committed) with
# the example policies and a few schedule expressions of every kind, the
# starting points libFuzzer mutates. Safe to run again: it only adds files.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus/load_policy
mkdir -p "$corpus"
cp desired/*.yaml "$corpus"/
for expression in \
    'cron(0 */6 * * ? *)' 'cron(30 2 ? * MON-FRI *)' 'cron(0 8-20/4 * * ? *)' 'cron(0 0 L * ? *)' \
    'cron(0 0 LW * ? *)' 'cron(0 0 15W * ? *)' 'cron(0 0 ? * 6L *)' 'cron(0 0 ? * MON#1 *)' \
    'cron(0 0 29 2 ? *)' 'cron(5,35 1-3 1,15 JAN-JUN/2 ? *)' 'rate(12 hours)' 'rate(1 day)'; do
    name=schedule-$(printf '%s' "$expression" | sha1sum | cut -c1-12)
    printf '%s' "$expression" > "$corpus/$name"
done
echo "seeded $corpus: $(ls "$corpus" | wc -l) files"
