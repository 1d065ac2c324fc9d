#!/usr/bin/env bash
# test_metrics: every dfsd serves Prometheus metrics over HTTP (metrics_listen): valid exposition
# text that promtool accepts, counters that move with puts and gets, store counts that match
# what was stored, 404 elsewhere; dfs-cluster status gives each server's metrics URL; the
# shipped alert rules and scrape configuration pass promtool.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROMTOOL=$(command -v promtool || true)
[[ -n $PROMTOOL ]] || PROMTOOL=/usr/bin/promtool
[[ -x $PROMTOOL ]] || fail "promtool is not installed (deploy/install-deps --test)"
MON=$DFS_SOURCE/deploy/monitoring

cd "$T" || fail "cd $T"
cluster_up

# metrics_port K: server K's metrics port, from cluster.env.
metrics_port() {
	cluster_env "DFS_CLUSTER_METRICS_PORT_$1"
}

# scrape K NAME: fetches server K's /metrics into $T/NAME.K (headers in $T/NAME.K.h) and
# checks it with promtool.
scrape() {
	local k=$1 out=$T/$2.$1
	curl -sS --max-time 10 -D "$out.h" -o "$out" "http://127.0.0.1:$(metrics_port "$k")/metrics" ||
		fail "cannot fetch the metrics of server $k"
	grep -q '^HTTP/1\.[01] 200' "$out.h" || fail "server $k: $(head -n 1 "$out.h")"
	grep -qi '^content-type: text/plain; version=0\.0\.4' "$out.h" ||
		fail "server $k: wrong content type: $(grep -i '^content-type' "$out.h")"
	# Format errors make promtool exit non-zero; its lint findings (naming advice) are
	# printed too, and this output has none: any line of output fails the test.
	"$PROMTOOL" check metrics <"$out" >"$out.lint" 2>&1 ||
		fail "promtool check metrics fails for server $k: $(cat "$out.lint")"
	[[ ! -s $out.lint ]] || fail "promtool check metrics lint for server $k: $(cat "$out.lint")"
}

for k in 1 2 3 4; do
	[[ $(metrics_port "$k") =~ ^[0-9]+$ ]] || fail "cluster.env has no metrics port for server $k"
	grep -qx "metrics_listen = 127.0.0.1:$(metrics_port "$k")" "$C/conf/dfsd-$k.conf" ||
		fail "dfsd-$k.conf lacks metrics_listen"
	scrape "$k" before
done
ok "each server serves /metrics on its metrics port (text format 0.0.4, promtool check metrics clean)"

make_random "$T/small.bin" 5000
make_random "$T/big.bin" $((3 * 1024 * 1024 + 17))
must dfs_s put "$T/small.bin" "$T/big.bin"
must dfs_s get small.bin -o "$T/small.out"
must dfs_s get big.bin -o "$T/big.out"
assert_file_eq "$T/small.bin" "$T/small.out"
assert_file_eq "$T/big.bin" "$T/big.out"
run dfs_s get no-such-file -o "$T/none.out"
((RC != 0)) || fail "get of a missing file succeeded"
for k in 1 2 3 4; do
	scrape "$k" after
done

# Parses every scrape with a small exposition-format reader and checks the values.
python3 - "$T" "$(stat -c %s "$T/small.bin")" "$(stat -c %s "$T/big.bin")" <<'EOF' ||
import math, re, sys

t, small, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')

def parse(path):
    samples, types = [], {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "unparsable line: " + line
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples, types

def value(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]

def values(samples, name, **labels):
    return [(l, v) for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]

stored = 0
errors_enoent = 0
for k in range(1, 5):
    before, _ = parse(f"{t}/before.{k}")
    after, types = parse(f"{t}/after.{k}")
    where = f"server {k}"
    assert value(after, "dfs_up") == 1, where
    info = values(after, "dfs_build_info")
    assert len(info) == 1 and info[0][0]["server"] == str(k) and info[0][0]["version"], info
    for name, kind in [("dfs_requests_total", "counter"), ("dfs_request_duration_seconds", "histogram"),
                       ("dfs_files", "gauge"), ("dfs_chunks_need_repair", "gauge"),
                       ("dfs_read_bytes_total", "counter"), ("dfs_connections", "gauge"),
                       ("dfs_sessions", "gauge"), ("dfs_uptime_seconds", "gauge")]:
        assert types.get(name) == kind, f"{where}: {name} has type {types.get(name)}"
    # Every chunk pair of a file has a copy on every server: each holds both files, two
    # chunks of each.
    assert value(after, "dfs_files") == 2, f"{where}: dfs_files {value(after, 'dfs_files')}"
    assert value(after, "dfs_chunks") == 4, f"{where}: dfs_chunks {value(after, 'dfs_chunks')}"
    assert value(before, "dfs_files") == 0 and value(before, "dfs_stored_bytes") == 0, where
    assert value(after, "dfs_chunks_need_repair") == 0, where
    assert 0 < value(after, "dfs_filesystem_free_bytes") <= value(after, "dfs_filesystem_size_bytes"), where
    stored += value(after, "dfs_stored_bytes")
    assert value(after, "dfs_start_time_seconds") > 1.6e9, where

    req = lambda s, p: value(s, "dfs_requests_total", proc=p)
    assert req(after, "STORE") > req(before, "STORE"), f"{where}: STORE did not move"
    assert req(after, "PUT_BLOCK") > req(before, "PUT_BLOCK"), f"{where}: PUT_BLOCK did not move"
    assert req(after, "READ") + req(after, "LOOKUP_READ") > req(before, "READ") + req(before, "LOOKUP_READ"), \
        f"{where}: READ and LOOKUP_READ did not move"
    assert value(after, "dfs_written_bytes_total") > 0 and value(after, "dfs_read_bytes_total") > 0, where
    assert value(after, "dfs_connections_opened_total") > 0, where

    # The histogram: for each procedure, buckets rise with le, +Inf equals _count, and
    # _count equals the request counter of the same scrape.
    procs = {l["proc"] for l, _ in values(after, "dfs_requests_total")}
    assert {"READ", "STORE", "PUT_BLOCK", "LOOKUP_READ", "LOGIN_BEGIN"} <= procs, procs
    for p in procs:
        buckets = sorted(((float(l["le"]), v) for l, v in values(after, "dfs_request_duration_seconds_bucket", proc=p)))
        assert buckets and buckets[-1][0] == math.inf, f"{where} {p}: no +Inf bucket"
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{where} {p}: buckets not cumulative {buckets}"
        count = value(after, "dfs_request_duration_seconds_count", proc=p)
        assert buckets[-1][1] == count == req(after, p), f"{where} {p}: +Inf {buckets[-1][1]}, _count {count}, requests {req(after, p)}"
        assert value(after, "dfs_request_duration_seconds_sum", proc=p) >= 0
        for l, v in values(after, "dfs_request_errors_total", proc=p):
            assert v <= req(after, p) and l["status"].startswith("DFS_E"), (where, p, l, v)
    errors_enoent += sum(v for l, v in values(after, "dfs_request_errors_total") if l["status"] == "DFS_ENOENT")

# Two copies of every byte of both files.
assert stored == 2 * (small + big), f"stored bytes {stored}, expected {2 * (small + big)}"
assert errors_enoent > 0, "the get of a missing file left no DFS_ENOENT error"
EOF
	fail "metric values"
ok "after a put and a get: STORE, PUT_BLOCK, READ/LOOKUP_READ moved; dfs_files 2 and dfs_chunks 4 on each server; stored bytes twice the data"
ok "histograms are cumulative, +Inf = _count = dfs_requests_total for every procedure; a missing file counts DFS_ENOENT"

port1=$(metrics_port 1)
run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port1/other"
assert_eq 404 "$OUT" "status of /other"
run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port1/"
assert_eq 404 "$OUT" "status of /"
run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$port1/metrics"
assert_eq 405 "$OUT" "status of POST /metrics"
ok "other paths give 404, other methods 405"

must "$DFS_CLUSTER" -d "$C" status
status_out=$OUT
for k in 1 2 3 4; do
	line=$(grep "^DFS$k " <<<"$status_out" || true)
	url="http://127.0.0.1:$(metrics_port "$k")/metrics"
	[[ $line == "DFS$k running "*" metrics $url" ]] || fail "status line of DFS$k: $line"
	must curl -sS --max-time 10 -f "$url"
	assert_contains "$OUT" "dfs_build_info{version=\"" "metrics of DFS$k"
done
ok "dfs-cluster status: each running server's line ends with 'metrics URL', and the URL answers"

cluster stop 2
run "$DFS_CLUSTER" -d "$C" status
assert_eq 3 "$RC" "status with server 2 stopped"
assert_contains "$OUT" "DFS2 stopped program"
assert_not_contains "$(grep '^DFS2 ' <<<"$OUT" || true)" "metrics" "status line of stopped DFS2"
assert_fails curl -sS --max-time 5 -f "http://127.0.0.1:$(metrics_port 2)/metrics"
cluster start 2
scrape 2 restarted
python3 - "$T/restarted.2" <<'EOF' || fail "metrics after a restart: $(head -c 2000 "$T/restarted.2")"
import re, sys
text = open(sys.argv[1]).read()
assert re.search(r'^dfs_files 2$', text, re.M), "dfs_files after restart"
assert re.search(r'^dfs_requests_total\{proc="STORE"\} 0$', text, re.M), "counters start at 0"
EOF
ok "a stopped server has no metrics URL in status and serves none; after start its counts are back"

# A server whose metrics address is taken, or not HOST:PORT, does not start and says why.
mkdir -m 0700 "$T/d5"
cat >"$T/dfsd-5.conf" <<EOF
id = 1
listen = 127.0.0.1
program = 0x3FFFFF00
data = $T/d5
users = $C/users.db
tls = off
metrics_listen = 127.0.0.1:$port1
EOF
run timeout 20 "$DFS_BUILD/bin/dfsd" -c "$T/dfsd-5.conf"
((RC == 1)) || fail "dfsd with a taken metrics port: exit $RC: $ERR"
assert_contains "$ERR" "cannot serve metrics on 127.0.0.1:$port1: Address already in use" "dfsd's error"
sed -i "s/^metrics_listen = .*/metrics_listen = 127.0.0.1/" "$T/dfsd-5.conf"
run timeout 20 "$DFS_BUILD/bin/dfsd" -c "$T/dfsd-5.conf"
((RC == 1)) || fail "dfsd with metrics_listen lacking a port: exit $RC: $ERR"
assert_contains "$ERR" "metrics_listen '127.0.0.1' is not HOST:PORT" "dfsd's error"
ok "a taken metrics port or an address without a port is a clear start-up error"

grep -q '^# *metrics_listen = ' "$DFS_SOURCE/deploy/dfsd.conf.example" ||
	fail "dfsd.conf.example lacks the commented metrics_listen line"
grep -q '^metrics_listen' "$DFS_SOURCE/deploy/dfsd.conf.example" &&
	fail "dfsd.conf.example turns metrics on"
ok "the packaged dfsd.conf.example keeps metrics off, with a commented example"

must "$PROMTOOL" check rules "$MON/prometheus-rules.yml"
must "$PROMTOOL" check config "$MON/prometheus.yml"
must "$PROMTOOL" test rules "$MON/prometheus-rules.test.yml"
python3 - "$MON/grafana-dashboard.json" "$MON/prometheus-rules.yml" <<'EOF' || fail "dashboard"
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
for name in ["dfs_requests_total", "dfs_request_duration_seconds_bucket", "dfs_stored_bytes",
             "dfs_chunks_need_repair", "dfs_filesystem_free_bytes"]:
    assert name in exprs, name
EOF
ok "promtool check rules / check config / test rules pass; the dashboard is JSON and uses the metrics"

# The dashboard and rules name only metrics that a server serves.
python3 - "$T/after.1" "$MON/grafana-dashboard.json" "$MON/prometheus-rules.yml" <<'EOF' ||
import re, sys
served = set(re.findall(r'^([a-z_]+)[{ ]', open(sys.argv[1]).read(), re.M))
used = set()
for path in sys.argv[2:]:
    used |= set(re.findall(r'\b(dfs_[a-z_]+)', open(path).read()))
missing = sorted(used - served)
assert not missing, missing
EOF
	fail "the dashboard or the rules use metrics no server serves"
ok "the dashboard and the alert rules use only metrics the servers serve"
