/**
 * A one-shot API client run inside a lab namespace (`ip netns exec NS node ns-fetch.js
 * METHOD URL TOKENFILE [BODYFILE]`), since the test process cannot reach the gateway's
 * loopback from the root namespace. Prints {status, body, at, sentAt}: wall-clock ms when the
 * request left and when the response arrived, comparable with capture timestamps.
 */
import { readFileSync } from 'node:fs';

const [method, url, tokenFile, bodyFile] = process.argv.slice(2);
const token = readFileSync(tokenFile!, 'utf8').trim();
const body = bodyFile ? readFileSync(bodyFile, 'utf8') : undefined;
const sentAt = Date.now();
const response = await fetch(url!, {
  method,
  headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  ...(body === undefined ? {} : { body }),
});
const at = Date.now();
const text = await response.text();
let parsed: unknown = text;
try {
  parsed = JSON.parse(text);
} catch {
  // Prometheus text and the like stay strings.
}
process.stdout.write(JSON.stringify({ status: response.status, body: parsed, at, sentAt }));
