#!/usr/bin/env bash
# A Hyper-V-like host as an NVE built from the Linux kernel's own gretap (vagrant up).
#
#   vagrant/host.sh NAME          (as root, on the host VM; idempotent)
#
# Per VSID present on this host: a bridge nvebr<VSID>; per remote PA of that VSID a gretap
# with key VSID<<8 (NVGRE: 24-bit VSID, FlowID 0), isolated bridge ports (split horizon:
# what arrives from one tunnel never goes out another); each tenant VM of this host is a
# network namespace with a veth in the bridge, its MAC and CA from vagrant/lab.env.
set -euo pipefail
# The scripts run from an uploaded copy: lab.env is read from the synced folder.
source /vagrant/vagrant/lab.env
name=$1
my_pa=$(ip -4 -o addr show | awk '{ print $4 }' | cut -d/ -f1 | grep -Fx -f <(printf '%s\n' 10.1.1.20 10.1.1.30 10.1.1.40) | head -1)
[ -n "$my_pa" ] || { echo "host.sh: $name has no fabric address" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
dpkg-query -W iproute2 >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq iproute2; }
modprobe ip_gre

for vm in "${TENANT_VMS[@]}"; do
  read -r vmname vsid ca mac pa gw <<<"$vm"
  [ "$pa" = "$my_pa" ] || continue
  key=$((vsid << 8))
  br=nvebr$vsid
  ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
  ip link set "$br" up
  i=0
  for remote in ${VSID_PAS[$vsid]}; do
    [ "$remote" != "$my_pa" ] || continue
    tun=gre${vsid}x$((i++))
    ip link del "$tun" 2>/dev/null || true
    ip link add "$tun" type gretap local "$my_pa" remote "$remote" key "$key"
    ip link set "$tun" master "$br" mtu 1458 up
    bridge link set dev "$tun" isolated on
  done
  ip netns del "$vmname" 2>/dev/null || true
  ip netns add "$vmname"
  ip link add "v-$vmname" type veth peer name eth0 netns "$vmname"
  ip link set "v-$vmname" master "$br" up
  ip -n "$vmname" link set eth0 address "$mac" mtu 1458 up
  ip -n "$vmname" link set lo up
  ip -n "$vmname" addr add "$ca" dev eth0
  [ "$gw" = - ] || ip -n "$vmname" route add default via "$gw"
  echo "host.sh: $name: $vmname ($ca, VSID $vsid) on $br"
done
