# netns.sh: simulated hosts for integration tests (sourced after lib.sh). Each host is a
# network namespace wired to a bridge that lives in a namespace of its own, so nothing
# appears on this machine's network; `on` also gives a host its own /run (rpcbind's socket).
# shellcheck shell=bash

NS_PREFIX=dfsns$$
NS_SWITCH=$NS_PREFIX-sw
NS_CREATED=()

# ns_cleanup: ends every process in the namespaces created here (and only those), then
# removes the namespaces, which removes their links and addresses too.
ns_cleanup() {
	local ns pid i left
	for ns in "${NS_CREATED[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null || true
		done
	done
	for ((i = 0; i < 100; i++)); do
		left=0
		for ns in "${NS_CREATED[@]}"; do
			[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] || left=1
		done
		((left)) || break
		sleep 0.05
	done
	for ns in "${NS_CREATED[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

# ns_add NAME: a namespace with its loopback up; 1 if it cannot be made.
ns_add() {
	ip netns add "$1" 2>"$T/netns.err" || return 1
	NS_CREATED+=("$1")
	ip -n "$1" link set lo up
}

# ns_switch_up: creates the switch, or exits 77 (skipped) when this machine does not
# permit network namespaces. Registers ns_cleanup with on_exit.
ns_switch_up() {
	on_exit ns_cleanup
	if [[ $(id -u) -ne 0 ]] || ! ns_add "$NS_SWITCH"; then
		printf 'skip: cannot create network namespaces here (needs root and "ip netns add"): %s\n' \
			"$(cat "$T/netns.err" 2>/dev/null)"
		# Nothing was started: leave without the cleanup's FAILED line.
		trap - EXIT
		rm -rf "$T"
		exit 77
	fi
	ip -n "$NS_SWITCH" link add br0 type bridge
	ip -n "$NS_SWITCH" link set br0 up
}

# ns_wire INDEX NS IP: a host namespace NS with eth0 = IP/24 on the switch.
ns_wire() {
	local k=$1 ns=$2 ip=$3
	ns_add "$ns" || fail "ip netns add $ns: $(cat "$T/netns.err")"
	ip link add eth0 netns "$ns" type veth peer name "p$k" netns "$NS_SWITCH"
	ip -n "$NS_SWITCH" link set "p$k" master br0 up
	ip -n "$ns" addr add "$ip/24" dev eth0
	ip -n "$ns" link set eth0 up
}

# ns_hosts NET CLIENT_IP: four server hosts NET.1 to NET.4 (namespaces NS[1..4], folders
# $T/hK with run/ and data/) and a client host CLIENT_IP (namespace CLIENT_NS, $T/client/run).
ns_hosts() {
	local net=$1 client_ip=$2 k
	NS=()
	for k in 1 2 3 4; do
		NS[k]=$NS_PREFIX-h$k
		ns_wire "$k" "${NS[k]}" "$net.$k"
		mkdir -p "$T/h$k/run" "$T/h$k/data"
	done
	CLIENT_NS=$NS_PREFIX-c
	ns_wire 0 "$CLIENT_NS" "$client_ip"
	mkdir -p "$T/client/run"
}

# on_host K CMD...: runs CMD on server host K of ns_hosts; on_client CMD...: on its client.
on_host() {
	local k=$1
	shift
	ns_on "$T/h$k" "${NS[k]}" "$@"
}
on_client() {
	ns_on "$T/client" "$CLIENT_NS" "$@"
}

# ns_on DIR NS CMD...: runs CMD on a simulated host: its network namespace, and a private
# mount namespace where DIR/run is /run.
ns_on() {
	local dir=$1 ns=$2
	shift 2
	ip netns exec "$ns" unshare -m --propagation private \
		sh -c 'mount --bind "$0/run" /run && exec "$@"' "$dir" "$@"
}

# ns_wait_for WHAT CMD...: waits (bounded) until CMD succeeds.
ns_wait_for() {
	local what=$1 i
	shift
	for ((i = 0; i < DFS_CLUSTER_WAIT * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "$what: not ready after ${DFS_CLUSTER_WAIT}s"
}

# ns_kill NS NAME: sends SIGTERM to the process named NAME in NS (the $! of a command
# started with ns_on is ip netns exec's, which waits for it) and waits until it is gone.
ns_kill() {
	local p pid=
	for p in $(ip netns pids "$1"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]] && pid=$p
	done
	[[ -n $pid ]] || fail "no $2 runs in $1"
	kill -TERM "$pid"
	ns_wait_for "$2 in $1 to exit" eval "! kill -0 $pid"
}
