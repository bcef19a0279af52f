#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by the root `npm run build`).
import('../dist/src/cli/nvgwctl.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('nvgwctl: not built yet; run `npm run build` in the repository root first');
    process.exit(2);
  }
  throw err;
});
