#!/usr/bin/python3
"""Crafts (and optionally sends) Ethernet frames carrying NVGRE, including malformed ones.

Run with Debian's /usr/bin/python3 (python3-scapy). Reads one JSON document on stdin:

  {"iface": "fab0" | null,          # null: build only, send nothing
   "intervalMs": 0,                  # pause between frames
   "frames": [spec, ...]}

and writes {"frames": [["<hex of each frame sent for spec 0>", ...], ...]} on stdout; a spec
yields several frames when it is fragmented. A spec is either {"frameHex": "..."} (sent as
is) or:

  {"outer": {"srcMac", "dstMac", "src", "dst", "ttl"?, "id"?, "df"?, "tos"?},
   "gre": {"checksum"?, "routing"?, "key"? (default true), "sequence"?, "version"?,
           "protocol"? (default 0x6558), "vsid"?, "flowId"?, "keyValue"?, "sequenceNumber"?},
   "inner": {"srcMac", "dstMac", "vlan"?, "ip"?: {"src", "dst", "ttl"?},
             "icmp"?: {"type"?, "id"?, "seq"?}, "udp"?: {"sport", "dport"},
             "arp"?: {"op"?, "psrc", "pdst", "hwsrc"?, "hwdst"?}, "payloadHex"?}
            | absent with "innerHex": "<raw inner frame>",
   "truncateIpPayloadTo"?: n,   # keep n bytes of the outer IP payload (GRE + inner); IP length follows
   "fragmentSize"?: n}          # split the outer IP packet into fragments of n payload bytes (multiple of 8)

The GRE key is keyValue if given, else vsid << 8 | flowId. An IPv4 inner frame with no
icmp/udp/payloadHex carries an ICMP echo request.
"""
import json
import socket
import sys
import time

from scapy.layers.inet import ICMP, IP, UDP, fragment
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether
from scapy.packet import Raw


def inner_frame(spec):
    if "innerHex" in spec:
        return bytes.fromhex(spec["innerHex"])
    inner = spec.get("inner")
    if inner is None:
        return b""
    eth = Ether(src=inner["srcMac"], dst=inner["dstMac"])
    if inner.get("vlan") is not None:
        eth = eth / Dot1Q(vlan=inner["vlan"])
    if "arp" in inner:
        a = inner["arp"]
        pkt = eth / ARP(op=a.get("op", 1), psrc=a["psrc"], pdst=a["pdst"],
                        hwsrc=a.get("hwsrc", inner["srcMac"]), hwdst=a.get("hwdst", "00:00:00:00:00:00"))
    elif "ip" in inner:
        ip = inner["ip"]
        pkt = eth / IP(src=ip["src"], dst=ip["dst"], ttl=ip.get("ttl", 64))
        if "udp" in inner:
            pkt = pkt / UDP(sport=inner["udp"]["sport"], dport=inner["udp"]["dport"])
        elif "icmp" in inner or "payloadHex" not in inner:
            i = inner.get("icmp", {})
            pkt = pkt / ICMP(type=i.get("type", 8), id=i.get("id", 1), seq=i.get("seq", 1))
    else:
        pkt = eth
    if "payloadHex" in inner:
        pkt = pkt / Raw(bytes.fromhex(inner["payloadHex"]))
    return bytes(pkt)


def gre_header(g):
    key_present = g.get("key", True)
    key = g.get("keyValue")
    if key is None:
        key = ((g.get("vsid", 0) << 8) | g.get("flowId", 0)) & 0xFFFFFFFF
    fields = dict(
        chksum_present=int(bool(g.get("checksum", False))),
        routing_present=int(bool(g.get("routing", False))),
        key_present=int(bool(key_present)),
        seqnum_present=int(bool(g.get("sequence", False))),
        version=g.get("version", 0),
        proto=g.get("protocol", 0x6558),
    )
    if key_present:
        fields["key"] = key
    if g.get("sequence", False):
        fields["sequence_number"] = g.get("sequenceNumber", 0)
    return GRE(**fields)


def build(spec):
    if "frameHex" in spec:
        return [bytes.fromhex(spec["frameHex"])]
    o = spec["outer"]
    # GRE's checksum (when C is set) is computed by scapy over the whole GRE packet.
    gre_bytes = bytes(gre_header(spec.get("gre", {})) / Raw(inner_frame(spec)))
    if spec.get("truncateIpPayloadTo") is not None:
        gre_bytes = gre_bytes[: spec["truncateIpPayloadTo"]]
    ip = IP(src=o["src"], dst=o["dst"], ttl=o.get("ttl", 64), id=o.get("id", 1), tos=o.get("tos", 0),
            flags="DF" if o.get("df", False) else 0, proto=47) / Raw(gre_bytes)
    packets = fragment(ip, fragsize=spec["fragmentSize"]) if spec.get("fragmentSize") else [ip]
    return [bytes(Ether(src=o["srcMac"], dst=o["dstMac"], type=0x0800) / p) for p in packets]


def main():
    req = json.load(sys.stdin)
    built = [build(spec) for spec in req["frames"]]
    iface = req.get("iface")
    if iface:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        pause = req.get("intervalMs", 0) / 1000.0
        for frames in built:
            for f in frames:
                s.send(f)
                if pause:
                    time.sleep(pause)
        s.close()
    json.dump({"frames": [[f.hex() for f in frames] for frames in built]}, sys.stdout)


if __name__ == "__main__":
    main()
