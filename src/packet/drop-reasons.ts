// Every reason the gateway drops a packet, in one list (the FD.io VPP error.def pattern):
// the packet codecs return these names as verdicts, the data path counts them, and the API
// and metrics expose the counters under the same names. A new reason is added here and
// nowhere else. The order is the counter order, so append rather than reorder.
//
// Verdicts are string literals rather than numbers so that a test failure or a log line
// reads as what happened; comparing two interned strings costs the same as two integers.

export const DROP_REASONS = [
  // Outer frame, as received from the provider (PA) network.
  { reason: 'truncated-ethernet', description: 'frame shorter than its Ethernet header' },
  { reason: 'not-ipv4', description: 'outer ethertype is not IPv4' },
  { reason: 'ipv4-header-invalid', description: 'outer IPv4 version, header length or total length is invalid' },
  { reason: 'ipv4-checksum-invalid', description: 'outer IPv4 header checksum does not verify' },
  { reason: 'ipv4-fragment', description: 'outer IPv4 packet is a fragment (MF set or offset non-zero)' },
  { reason: 'not-gre', description: 'outer IPv4 protocol is not GRE (47)' },
  // GRE header, classified against RFC 2784, RFC 2890 and RFC 7637 section 3.2.
  { reason: 'truncated-gre', description: 'packet ends inside the GRE header' },
  { reason: 'gre-version', description: 'GRE version is not 0' },
  { reason: 'gre-checksum-present', description: 'GRE checksum bit (C) is set' },
  { reason: 'gre-routing-present', description: 'GRE routing bit (R) or another RFC 2784 must-be-zero bit is set' },
  { reason: 'gre-no-key', description: 'GRE key bit (K) is clear, so there is no VSID' },
  { reason: 'gre-sequence-present', description: 'GRE sequence number bit (S) is set' },
  { reason: 'gre-wrong-protocol', description: 'GRE protocol type is not Transparent Ethernet Bridging (0x6558)' },
  // Inner (customer, CA) frame.
  { reason: 'truncated-inner', description: 'inner Ethernet frame shorter than 14 bytes' },
  { reason: 'inner-vlan-tag', description: 'inner frame carries an 802.1Q/802.1ad tag (RFC 7637 section 3.3)' },
  // Applied by the data path against tables the control plane filled.
  { reason: 'unknown-vsid', description: 'VSID is not configured on this gateway' },
  { reason: 'spoofed-outer-pa', description: 'outer source address is not a provider address of this VSID' },
  { reason: 'spoofed-inner-ca', description: 'inner source address is not a customer address behind the sending PA' },
  { reason: 'nat-rule-not-forwarded', description: 'no NAT rule forwards this packet' },
  { reason: 'ttl-exceeded', description: 'TTL would reach zero when routed' },
  { reason: 'no-route', description: 'no route to the destination in the routing domain' },
  { reason: 'mtu-exceeded', description: 'packet is larger than the egress MTU after encapsulation' },
  { reason: 'arp-invalid', description: 'ARP packet is truncated or not Ethernet/IPv4' },
  { reason: 'icmp-invalid', description: 'ICMP message is shorter than its 8-byte header' },
  // Applied by the data path, continued (appended: the order is the counter order).
  { reason: 'not-for-gateway-pa', description: 'outer destination is not one of the gateway\'s provider addresses' },
  { reason: 'spoofed-inner-mac', description: 'inner source MAC (non-IPv4 frame) is not a VM MAC behind the sending PA' },
  { reason: 'no-lookup-record', description: 'no lookup record (and no wildcard record) for the destination in its VSID' },
  { reason: 'pa-unreachable', description: 'no provider route or connected PA subnet reaches the destination PA' },
  { reason: 'neighbour-unresolved', description: 'the provider next hop has not answered ARP yet' },
  { reason: 'tx-ring-full', description: 'the egress port had no free transmit slot' },
  { reason: 'arp-unanswerable', description: 'ARP request from the gateway for a CA no lookup record names (suppressed, never flooded)' },
  { reason: 'tenant-port-detached', description: 'frame from a tenant interface whose VSID was just removed (still in the shared receive ring)' },
  { reason: 'offload-unmatched', description: 'frame claimed from an uplink for an offloaded connection that was removed in the same instant' },
] as const;

export type DropReason = (typeof DROP_REASONS)[number]['reason'];

/** What a codec says about a packet: accepted, or the one reason it is dropped. */
export type Verdict = 'ok' | DropReason;
