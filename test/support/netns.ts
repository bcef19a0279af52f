/** Moved to src/lab/netns.ts (the lab is product code); kept so the tests' imports stay unchanged. */
export * from '../../src/lab/netns.js';
