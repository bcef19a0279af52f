/**
 * The nvgwctl executable (bin/nvgwctl.js imports this module): real streams, the real
 * environment and files, and the exit code from main. Exit codes are listed in USAGE.
 */
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { main } from './main.js';

// A reader that closed the pipe early (nvgwctl get … | head) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readFile: (path) => (path === '-' ? text(process.stdin) : readFile(path, 'utf8')),
});
