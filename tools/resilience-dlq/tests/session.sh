#!/bin/sh
# SPDX-License-Identifier: MIT
#
# A whole resilience-dlq session on a sample dead-letter file (6 records, one malformed line, a torn
# final line): stats, list, show, a replay with failures, a rerun that resumes, a rerun that finishes.
#   session.sh RESILIENCE_DLQ SAMPLE WORKDIR
set -u
dlq=$1
sample=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 2
cp "$sample" dead_letters.jsonl

failures=0
check() { # check DESCRIPTION EXPECTED_STATUS ACTUAL_STATUS
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: exit status $3, expected $2"
        failures=$((failures + 1))
    fi
}
contains() { # contains DESCRIPTION FILE TEXT
    if ! grep -qF -- "$3" "$2"; then
        echo "FAIL: $1: '$3' not in:"
        cat "$2"
        failures=$((failures + 1))
    fi
}
lines() { wc -l < "$1" | tr -d ' '; }

# Usage errors: status 2, with a message.
"$dlq" > out.txt 2> err.txt; check "no arguments" 2 $?
contains "no arguments" err.txt "missing command"
"$dlq" frobnicate x > out.txt 2> err.txt; check "unknown command" 2 $?
"$dlq" stats > out.txt 2> err.txt; check "stats without FILE" 2 $?
"$dlq" stats no-such-file.jsonl > out.txt 2> err.txt; check "missing file" 2 $?
contains "missing file" err.txt "No such file or directory"
"$dlq" replay dead_letters.jsonl > out.txt 2> err.txt; check "replay without a command" 2 $?
"$dlq" list dead_letters.jsonl --kind nonsense > out.txt 2> err.txt; check "unknown kind" 2 $?
"$dlq" show dead_letters.jsonl no-such-id > out.txt 2> err.txt; check "unknown id" 1 $?
contains "unknown id" err.txt "no record with id 'no-such-id'"

# stats: counts by kind and source; problems reported on stderr.
"$dlq" stats dead_letters.jsonl > out.txt 2> err.txt; check "stats" 0 $?
contains "stats" out.txt "records:   6 (6 distinct ids: 6 pending, 0 replayed)"
contains "stats" out.txt "circuit_open         2"
contains "stats" out.txt "pricing.get          1"
contains "stats" out.txt "oldest:    2026-01-01T00:00:01.015Z"
contains "stats problems" err.txt "line 6 (byte 2915): malformed"
contains "stats problems" err.txt "line 8 (byte 3650): torn final line"

# list and show.
"$dlq" list dead_letters.jsonl --kind error > out.txt 2> err.txt; check "list --kind" 0 $?
[ "$(lines out.txt)" = 3 ] || { echo "FAIL: list --kind error: expected a header and 2 rows"; cat out.txt; failures=$((failures + 1)); }
"$dlq" show dead_letters.jsonl order-1003 > out.txt 2> err.txt; check "show" 0 $?
contains "show" out.txt "kind:          timeout (cause: timeout, hint: unknown)"
contains "show" out.txt '{"order":1003,"sku":"SLOW-3","qty":5}'
"$dlq" show dead_letters.jsonl order-1003 --json > out.txt 2> err.txt; check "show --json" 0 $?
contains "show --json" out.txt '"requestContext":{"requestId":"order-1003"'

# replay: each payload on the command's stdin; records for the GONE-7 sku keep failing.
cat > handler.sh <<'HANDLER'
payload=$(cat)
case "$payload" in *GONE-7*) exit 1 ;; esac
echo "$RESILIENCE_DLQ_ID $RESILIENCE_DLQ_KIND $RESILIENCE_DLQ_ATTEMPTS" >> replayed.txt
HANDLER
"$dlq" replay dead_letters.jsonl --dry-run > out.txt 2> err.txt; check "replay --dry-run" 0 $?
[ "$(grep -c 'would replay' out.txt)" = 6 ] || { echo "FAIL: dry run"; cat out.txt; failures=$((failures + 1)); }
[ ! -e replayed.txt ] || { echo "FAIL: the dry run ran the command"; failures=$((failures + 1)); }

"$dlq" replay dead_letters.jsonl -- sh handler.sh > out.txt 2> err.txt; check "first replay (3 fail)" 1 $?
contains "first replay" out.txt "replay: 3 replayed, 3 failed, 0 already done, 0 duplicates"
contains "first replay" out.txt "failed   order-1002 (exit status 1)"
contains "first replay" out.txt "replayed order-1003"
[ "$(lines replayed.txt)" = 3 ] || { echo "FAIL: 3 records should have reached the command"; failures=$((failures + 1)); }
[ "$(lines dead_letters.jsonl.progress)" = 3 ] || { echo "FAIL: 3 progress entries expected"; failures=$((failures + 1)); }
cmp -s "$sample" dead_letters.jsonl || { echo "FAIL: replay modified the dead-letter file"; failures=$((failures + 1)); }

# A rerun resumes: what succeeded is not driven again.
"$dlq" replay dead_letters.jsonl -- sh handler.sh > out.txt 2> err.txt; check "second replay" 1 $?
contains "second replay" out.txt "replay: 0 replayed, 3 failed, 3 already done"
[ "$(lines replayed.txt)" = 3 ] || { echo "FAIL: a rerun drove a record that had succeeded"; failures=$((failures + 1)); }
"$dlq" list dead_letters.jsonl --pending > out.txt 2> err.txt; check "list --pending" 0 $?
[ "$(lines out.txt)" = 4 ] || { echo "FAIL: list --pending: expected a header and 3 rows"; cat out.txt; failures=$((failures + 1)); }

# The dependency is back: the last run finishes, with status 0.
"$dlq" replay dead_letters.jsonl -- sh -c 'cat > /dev/null' > out.txt 2> err.txt; check "third replay" 0 $?
contains "third replay" out.txt "replay: 3 replayed, 0 failed, 3 already done"
"$dlq" stats dead_letters.jsonl > out.txt 2> err.txt; check "stats after replay" 0 $?
contains "stats after replay" out.txt "(6 distinct ids: 0 pending, 6 replayed)"
"$dlq" replay dead_letters.jsonl -- false > out.txt 2> err.txt; check "nothing left to replay" 0 $?
contains "nothing left" out.txt "replay: 0 replayed, 0 failed, 6 already done"

# A command that cannot be run fails its records (status 127), and they stay.
cp "$sample" other.jsonl
"$dlq" replay other.jsonl --stop-on-failure -- ./no-such-command > out.txt 2> err.txt; check "missing command" 1 $?
contains "missing command" out.txt "1 failed"
contains "missing command" out.txt "5 not attempted"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "resilience-dlq session: all checks passed"
