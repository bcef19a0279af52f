#!/usr/bin/env bash
# The gateway VM (vagrant up): the appliance of image/ on a Debian 12 box. image/install-nvgw
# puts the payload (Node + built nvgw, synced from image/container-context's output) under
# /opt/nvgw with the image's units, sysctls, modules and user; the configuration is what
# the appliance's first boot writes from a seed: the API on the fabric management address,
# the lab's token, the fabric NIC as PA interface.
#
#   vagrant/gateway.sh FABRIC_IP OUTSIDE_IP     (as root on the gateway VM; idempotent)
set -euo pipefail
# The scripts run from an uploaded copy: lab.env is read from the synced folder.
source /vagrant/vagrant/lab.env
fabric_ip=$1
payload=/srv/nvgw-payload
[ -x "$payload/node/bin/node" ] || { echo "gateway.sh: no payload in $payload: run image/container-context /var/cache/nvgw-image/context on the Vagrant host" >&2; exit 1; }
fabric_if=$(ip -4 -o addr show | awk -v ip="$fabric_ip" '$4 ~ "^"ip"/" { print $2 }')
[ -n "$fabric_if" ] || { echo "gateway.sh: no interface holds $fabric_ip" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends iproute2 iptables ethtool libstdc++6 curl "linux-image-$(uname -r)" >/dev/null
/vagrant/image/install-nvgw --root / --from "$payload" --node "$payload/node/bin/node"
systemctl restart systemd-sysctl systemd-modules-load

umask 077
printf '%s\n' "$LAB_TOKEN" > /var/lib/nvgw/api-token.new 2>/dev/null || { install -d -m 0700 -o nvgw -g nvgw /var/lib/nvgw; printf '%s\n' "$LAB_TOKEN" > /var/lib/nvgw/api-token.new; }
chown nvgw:nvgw /var/lib/nvgw/api-token.new
mv /var/lib/nvgw/api-token.new /var/lib/nvgw/api-token
printf '{\n  "api": { "host": "%s", "port": 8470, "tokenFile": "/var/lib/nvgw/api-token" },\n  "datapath": { "fabricInterface": "%s" }\n}\n' "$fabric_ip" "$fabric_if" > /etc/nvgw/nvgw.json
chown root:nvgw /etc/nvgw/nvgw.json
chmod 0640 /etc/nvgw/nvgw.json
systemctl daemon-reload
systemctl enable nvgw.service
systemctl restart nvgw.service
echo "gateway.sh: nvgw on $fabric_if, API http://$fabric_ip:8470"
