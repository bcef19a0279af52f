/** Moved to src/lab/ns-fetch.ts; gateway-ns.ts still runs this path as a script, so importing it runs the request. */
import '../../src/lab/ns-fetch.js';
