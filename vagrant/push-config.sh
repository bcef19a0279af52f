#!/usr/bin/env bash
# The controller's push (vagrant up, last): PUT /v1/config with vagrant/lab-config.json,
# as System Center VMM would through the gateway-provider API.
set -euo pipefail
# The scripts run from an uploaded copy: lab.env is read from the synced folder.
source /vagrant/vagrant/lab.env
api=http://$GATEWAY_API
# The PA interface's name depends on the box (eth1, ens6, ...): the one holding the fabric address.
fabric_if=$(ip -4 -o addr show | awk -v ip="${GATEWAY_API%%:*}" '$4 ~ "^"ip"/" { print $2 }')
config=$(mktemp)
trap 'rm -f "$config"' EXIT
sed "s/\"interface\": \"eth1\"/\"interface\": \"$fabric_if\"/" /vagrant/vagrant/lab-config.json > "$config"
for ((i = 0; i < 60; i++)); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $LAB_TOKEN" "$api/readyz" && break
  sleep 2
done
curl -fsS -X PUT -H "Authorization: Bearer $LAB_TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$config" "$api/v1/config" >/dev/null
curl -fsS -H "Authorization: Bearer $LAB_TOKEN" "$api/v1/status"
echo
