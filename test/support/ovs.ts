/** Moved to src/lab/ovs-host.ts (the lab is product code); kept so the tests' imports stay unchanged. */
export * from '../../src/lab/ovs-host.js';
