#!/usr/bin/env bash
# The "Internet" VM: a plain host on the outside network, with a web server the tenants
# reach through the gateway's NAT (vagrant up).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
command -v python3 >/dev/null || { apt-get update -qq; apt-get install -y -qq python3; }
cat > /etc/systemd/system/lab-web.service <<'UNIT'
[Unit]
Description=lab web server (the Internet side of the nvgw lab)
[Service]
ExecStart=/usr/bin/python3 -m http.server 80 --directory /usr/share/doc
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now lab-web.service
