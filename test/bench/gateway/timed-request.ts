/**
 * One API request timed from inside a lab namespace, on a warm connection:
 *
 *   ip netns exec NS node timed-request.js METHOD URL TOKENFILE [BODYFILE]
 *
 * Two GET /healthz first, so that neither process start-up nor the first fetch's set-up is
 * counted (test/support/ns-fetch.js, which the tests use, makes a cold request: about
 * 60-150 ms of its own on this machine); with a body, also one request with a body the API
 * refuses (`{}`: 422, nothing changes), because the client's first request with a body
 * costs it ~8 ms of its own set-up before a byte leaves (measured: 10 ms from sentAt to the
 * gateway's handler for a process's first PUT, 2.3 ms for its second). Prints {status,
 * sentAt, at}: wall-clock milliseconds, with fractions, when the request left and when the
 * whole response was in, comparable with capture timestamps.
 */
import { readFileSync } from 'node:fs';

const [method, url, tokenFile, bodyFile] = process.argv.slice(2);
if (!method || !url || !tokenFile) throw new Error('usage: timed-request.js METHOD URL TOKENFILE [BODYFILE]');
const authorization = `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`;
const body = bodyFile ? readFileSync(bodyFile, 'utf8') : undefined;
const now = (): number => performance.timeOrigin + performance.now();
for (let i = 0; i < 2; i++) await (await fetch(new URL('/healthz', url))).text();
if (body !== undefined) {
  const refused = await fetch(url, { method, headers: { authorization, 'content-type': 'application/json' }, body: '{}' });
  await refused.text();
  if (refused.status < 400) throw new Error(`the warm-up request was not refused (${refused.status}): it may have changed state`);
}
const sentAt = now();
const response = await fetch(url, {
  method,
  headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  ...(body === undefined ? {} : { body }),
});
await response.text();
const at = now();
process.stdout.write(JSON.stringify({ status: response.status, sentAt, at }));
