#!/usr/bin/env bash
# Load test of chaff-milter behind a real Postfix (a benchmark, not a test: it prints figures).
#
#   crates/chaff-milter/load/run.sh [MESSAGES=10000] [SESSIONS=200] [INDEX]
#
# Builds the release binary, starts it and a private Postfix (../shared/milter/postfix-harness.sh)
# on 127.0.0.1 with limits raised for SESSIONS concurrent SMTP sessions, sends MESSAGES corpus
# messages (default: ../shared/corpora/spamassassin, ham and spam, shuffled, cycled) with smtp_load.py,
# waits until the queue is empty, stops the milter (SIGTERM: its last log line has the
# per-message times) and checks that delivered + rejected = sent. Needs root and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
shared=${CHAFF_SHARED:-$root/../shared}
msgs=${1:-10000}
sessions=${2:-200}
index=${3:-$shared/corpora/spamassassin/index.tsv}
work=${LOAD_DIR:-/tmp/chaff-milter-load}
harness=$shared/milter/postfix-harness.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rm -rf "$work"; mkdir -p "$work"
(cd "$root" && cargo build --release --locked -p chaff-milter)
milter_port=$(free_port); smtp_port=$(free_port)
cat > "$work/milter.toml" <<CFG
stats_interval_secs = 10
drain_timeout_secs = 10
[actions]
reject_above = 0.99
CFG
# MILTER_NICE=-10: run the milter at a higher priority than Postfix's processes.
# MILTER_CPUS=1 OTHER_CPUS=0: pin the milter to its own core(s) and Postfix + the client to the
# others (taskset), so the milter's time is its own and not time spent waiting for a core that
# hundreds of smtpd / cleanup processes share (as on a filter host sized for its load).
pin_milter=(); pin_other=()
if [ -n "${MILTER_CPUS:-}" ]; then pin_milter=(taskset -c "$MILTER_CPUS"); fi
if [ -n "${OTHER_CPUS:-}" ]; then pin_other=(taskset -c "$OTHER_CPUS"); fi
"${pin_milter[@]}" nice -n "${MILTER_NICE:-0}" "$root/target/release/chaff-milter" --config "$work/milter.toml" \
    --listen "inet:127.0.0.1:$milter_port" 2> "$work/milter.log" &
milter_pid=$!
trap 'kill -TERM $milter_pid 2>/dev/null || true; bash "$harness" clean >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $milter_port))" 2>/dev/null && break
  sleep 0.1
done

export HARNESS_DIR=$work/postfix SMTP_PORT=$smtp_port MILTERS=inet:127.0.0.1:$milter_port
export MILTER_DEFAULT_ACTION=tempfail
export POSTCONF_EXTRA="default_process_limit = $((sessions + 100))
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_soft_error_limit = 100000
smtpd_hard_error_limit = 100000
smtpd_error_sleep_time = 0
in_flow_delay = 0
virtual_destination_concurrency_limit = 50
qmgr_message_active_limit = 40000"
"${pin_other[@]}" bash "$harness" start

echo "sending $msgs messages over $sessions sessions from $index"
"${pin_other[@]}" python3 "$root/crates/chaff-milter/load/smtp_load.py" --port "$smtp_port" --index "$index" \
    --messages "$msgs" --sessions "$sessions" | tee "$work/client.json"
bash "$harness" wait-idle 900
delivered=$(find "$work/postfix/mail/inbox" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l)
held=$(bash "$harness" held | wc -l)
kill -TERM "$milter_pid"; wait "$milter_pid" || true
trap 'bash "$harness" clean >/dev/null 2>&1 || true' EXIT
stats=$(grep ' stopped' "$work/milter.log" | tail -1 | sed 's/.*stats=//')
echo "milter: $stats"
python3 - "$work/client.json" "$delivered" "$held" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); delivered, held = int(sys.argv[2]), int(sys.argv[3])
ok = delivered + held + c["rejected"] == c["sent"] and c["tempfailed"] == 0 and c["errors"] == 0
print(f"sent={c['sent']} delivered={delivered} held={held} rejected={c['rejected']} "
      f"tempfailed={c['tempfailed']} errors={c['errors']} -> "
      f"{'OK' if ok else 'MISMATCH'}: delivered + held + rejected {'=' if ok else '!='} sent")
sys.exit(0 if ok else 1)
PY
