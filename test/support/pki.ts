/**
 * A throwaway PKI made with openssl at test time (a CA, a server certificate for
 * 127.0.0.1 and a client certificate), so no key material is ever committed.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** Writes the PKI into `dir` and returns the file paths. Distinct `caName`s give unrelated CAs. */
export function makeTestPki(dir: string, caName = 'nvgw-test-ca'): TestPki {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${caName}`], dir);
  for (const [name, extra] of [
    ['server', ['-addext', 'subjectAltName=IP:127.0.0.1']],
    ['client', []],
  ] as const) {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=nvgw-test-${name}`, ...extra], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-copy_extensions', 'copy'], dir);
  }
  return { ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key') };
}
