#!/usr/bin/env bash
# Regenerates the packet fixtures in testdata/ from the Linux kernel.
#
# Two network namespaces joined by a veth pair (198.18.0.1/24 <-> 198.18.0.2/24,
# fd00::1/64 <-> fd00::2/64), tcpdump on side A writing one pcap per scenario.
# Needs root, iproute2 (ip, tc), tcpdump, iputils-ping, socat and ethtool. Names are
# unique per run; both namespaces and the tcpdump logs are removed on exit, even on failure.
# Addresses are only 198.18.0.0/15 and fd00::/8 (docs/TEAM.md network rules).
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in ip tc tcpdump ping socat ethtool; do
  command -v "$cmd" >/dev/null || { echo "capture-fixtures: $cmd not found (apt-get install iproute2 tcpdump iputils-ping socat ethtool)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "capture-fixtures: needs root (network namespaces)" >&2; exit 1; }
# OUT=dir writes elsewhere (e.g. to refresh one file). Tests pin values read from the committed
# files (ports, sequence numbers, ids), so after a full refresh update src/header/*.test.ts.
out=${OUT:-testdata}
mkdir -p "$out"
id="hdr-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
A="$id-a"
B="$id-b"
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -f /tmp/"$id"-*.log
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" link add veth0 type veth peer name veth1 netns "$B"
# Deterministic MACs so fixtures stay stable between runs.
ip -n "$A" link set veth0 address 02:00:00:00:00:01
ip -n "$B" link set veth1 address 02:00:00:00:00:02
for ns in "$A" "$B"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=1
done
# Software checksums and no segmentation offload, so captured checksums are final (veth
# otherwise leaves CHECKSUM_PARTIAL sums in the capture).
ip netns exec "$A" ethtool -K veth0 tx off tso off gso off gro off >/dev/null
ip netns exec "$B" ethtool -K veth1 tx off tso off gso off gro off >/dev/null
ip -n "$A" addr add 198.18.0.1/24 dev veth0
ip -n "$B" addr add 198.18.0.2/24 dev veth1
ip -n "$A" addr add fd00::1/64 dev veth0 nodad
ip -n "$B" addr add fd00::2/64 dev veth1 nodad

# capture NAME FILTER COMMAND...: tcpdump on A's veth0 while COMMAND runs in A.
capture() {
  local name=$1 filter=$2
  shift 2
  ip netns exec "$A" tcpdump --immediate-mode -i veth0 -U -s 0 -w "$out/$name.pcap" "$filter" 2>"/tmp/$id-$name.log" &
  local t=$!
  sleep 1
  ip netns exec "$A" "$@" >/dev/null 2>&1 || echo "capture $name: command failed: $*" >&2
  sleep 0.5
  kill "$t" && wait "$t" 2>/dev/null || true
}

# Link up: capture on B while A's end comes up. Linux sends Router Solicitations (RFC 4861 §6.3.7)
# and MLDv2 reports, which carry a Hop-by-Hop header with Router Alert (RFC 3810 §5, RFC 2711).
ip -n "$B" link set veth1 up
ip netns exec "$B" tcpdump --immediate-mode -i veth1 -U -s 0 -w "$out/ipv6-rs.pcap" "icmp6 and ip6[40] == 133" 2>/dev/null &
t2=$!
ip netns exec "$B" tcpdump --immediate-mode -i veth1 -U -s 0 -w "$out/ipv6-mld.pcap" -c 2 "ip6[6] == 0" 2>/dev/null &
t=$!
sleep 1
ip -n "$A" link set veth0 up
sleep 3
kill "$t" "$t2" 2>/dev/null || true
wait "$t" "$t2" 2>/dev/null || true

# ARP request/reply and ICMPv4 echo (the first ping resolves 198.18.0.2).
ip -n "$A" neigh flush dev veth0
capture arp "arp or icmp" ping -c 1 -W 2 -p 6e657473 198.18.0.2

# IPv6 neighbour solicitation/advertisement and ICMPv6 echo.
ip -n "$A" neigh flush dev veth0
capture icmpv6-echo-ndp "icmp6" ping -6 -c 1 -W 2 -p 6e657473 fd00::2

# IPv4 options: Record Route (RFC 791 §3.1, option type 7) on an echo request.
capture ipv4-options "icmp" ping -R -c 1 -W 2 198.18.0.2

# IPv4 fragments: a 3000-byte echo over a 1500-byte MTU (RFC 791 §3.2).
capture ipv4-frag "ip" ping -c 1 -W 2 -s 3000 198.18.0.2

# IPv6 fragment headers (RFC 8200 §4.5).
capture ipv6-frag "ip6" ping -6 -c 1 -W 2 -s 3000 fd00::2

# TCP handshake with MSS, SACK-permitted, timestamps, window scale; a little data; FIN.
ip netns exec "$B" socat -u TCP4-LISTEN:7000,reuseaddr OPEN:/dev/null &
pids+=($!)
ip netns exec "$B" socat -u TCP6-LISTEN:7001,reuseaddr OPEN:/dev/null &
pids+=($!)
sleep 0.5
capture tcp4 "tcp port 7000" sh -c 'printf "hello, netstack\n" | socat -u - TCP4:198.18.0.2:7000'
capture tcp6 "tcp port 7001" sh -c 'printf "hello, netstack\n" | socat -u - TCP6:[fd00::2]:7001'

# UDP over IPv4 and IPv6.
capture udp4 "udp port 7002" sh -c 'printf "netstack udp\n" | socat -u - UDP4-SENDTO:198.18.0.2:7002'
capture udp6 "udp port 7003" sh -c 'printf "netstack udp6\n" | socat -u - UDP6-SENDTO:[fd00::2]:7003'

# ICMPv4 port unreachable from B (UDP to a closed port) and ICMPv6 likewise.
capture icmpv4-unreach "icmp or udp" sh -c 'printf x | socat -u - UDP4-SENDTO:198.18.0.2:7009; sleep 0.3'
capture icmpv6-unreach "icmp6 and ip6[40] == 1 or udp" sh -c 'printf x | socat -u - UDP6-SENDTO:[fd00::2]:7009; sleep 0.3'

# SACK blocks (RFC 2018): a slow token bucket with a tiny queue on A's egress drops segments
# of a bulk transfer (no netem needed), so B receives out of order and its ACKs carry SACK blocks.
if ip netns exec "$A" tc qdisc add dev veth0 root tbf rate 20mbit burst 4500 limit 4500 2>/dev/null; then
  ip netns exec "$B" socat -u TCP4-LISTEN:7004,reuseaddr OPEN:/dev/null &
  pids+=($!)
  sleep 0.5
  ip netns exec "$A" tcpdump --immediate-mode -i veth0 -U -s 128 -w "$out/tcp4-sack-all.pcap" \
    "tcp port 7004 and src host 198.18.0.2" 2>/dev/null &
  t=$!
  sleep 1
  ip netns exec "$A" sh -c 'head -c 300000 /dev/zero | socat -u - TCP4:198.18.0.2:7004' >/dev/null 2>&1 || true
  sleep 1
  kill "$t" && wait "$t" 2>/dev/null || true
  ip netns exec "$A" tc qdisc del dev veth0 root
  # Keep only the first ACKs whose options are longer than NOP NOP TS (12 bytes): those carry SACK.
  tcpdump -r "$out/tcp4-sack-all.pcap" -w "$out/tcp4-sack.pcap" -c 3 '(tcp[13] & 2) == 0 and (tcp[12] >> 4) > 8' 2>/dev/null || true
  rm -f "$out/tcp4-sack-all.pcap"
else
  echo "tc tbf unavailable: no SACK fixture (tests build SACK options with the encoder)" >&2
fi

ls -l "$out"/*.pcap
