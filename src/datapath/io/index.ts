/** The data path's packet I/O: real ports (AF_PACKET rings, taps), the fake, and waiting. */
export type { FramePort, PortStats, RxBatch, TxBatch } from './frame-port.js';
export { createRxBatch, createTxBatch } from './frame-port.js';
export { openPacketPort, openSharedPacketPort, PacketPort, type FanoutMode, type PacketPortOptions, type PacketPortStats, type SharedPacketPortOptions } from './packet-port.js';
export { deleteTap, openTapPort, TapPort, type TapPortOptions, type TapPortStats } from './tap-port.js';
export { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO } from './tap-port.js';
export { waitReadable, WAIT_MAX_PORTS } from './wait.js';
export { BPF_RET_K, fabricFilter, packBpf, type BpfInstruction } from './bpf.js';
export { CLAIM_COPY, CLAIM_DROP, openFlowClaim, type ClaimTuple, type FlowClaim, type FlowClaimOptions } from './flow-claim.js';
export { createFakePortPair, FakePort, FakeSharedPort, type AddressedFrame, type FakePortOptions } from './fake-port.js';
export { isPortOpenError, type PortOpenError } from './native.js';
