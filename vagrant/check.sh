#!/usr/bin/env bash
# The lab's connectivity matrix, run from the Vagrant host after `vagrant up`:
#
#   vagrant/check.sh
#
# Each row pings from a tenant VM (a namespace on its host VM) and compares with what must
# happen; the gateway's counters follow. Exit status 1 when any row differs.
set -euo pipefail
cd "$(dirname "$0")/.."
source vagrant/lab.env

# from-host from-namespace to expectation(pass|fail) description
matrix=(
  "hv1 blue01 192.168.1.102 pass VM <-> VM (VSID 5001, hv1 -> hv2)"
  "hv2 blue02 192.168.1.101 pass VM <-> VM (VSID 5001, hv2 -> hv1)"
  "hv3 red01 192.168.2.250 pass VM <-> gateway (VSID 5002)"
  "hv3 red01 203.0.113.100 pass VM -> Internet through NAT"
  "hv1 blue01 192.168.2.250 fail VSID 5001 has no route to the gateway's CA"
)
failed=0
printf '%-55s %-8s %-8s\n' CHECK WANT GOT
for row in "${matrix[@]}"; do
  read -r host ns to want what <<<"$row"
  if vagrant ssh "$host" -c "sudo ip netns exec $ns ping -c 2 -W 2 -q $to" >/dev/null 2>&1; then got=pass; else got=fail; fi
  [ "$got" = "$want" ] || failed=1
  printf '%-55s %-8s %-8s%s\n' "$what" "$want" "$got" "$([ "$got" = "$want" ] || echo '  <-- WRONG')"
done
echo
vagrant ssh gateway -c "curl -fsS -H 'Authorization: Bearer $LAB_TOKEN' http://$GATEWAY_API/v1/stats" || true
echo
exit "$failed"
