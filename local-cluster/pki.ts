// A private CA and a server certificate signed by it, made once with openssl and reused, so that
// every simulator speaks real, verified TLS (the control plane's own PKI uses the same helpers).
import { readFile } from 'node:fs/promises';
import { ensureCertificate, ensureClusterCa } from './control-plane/certificates.ts';

export interface Pki {
  caCertPem: string;
  caCertPath: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

/** Returns the PKI in `dir`, creating the CA and a certificate for exactly `hosts` when needed. */
export async function ensurePki(dir: string, hosts: string[]): Promise<Pki> {
  const ca = await ensureClusterCa(dir, 'vm-import local CA');
  const { certPath, keyPath } = await ensureCertificate(ca, {
    name: 'server',
    commonName: hosts[0] ?? 'localhost',
    hosts: [...new Set(hosts)].sort(),
    usage: 'server',
  });
  const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { caCertPem: ca.certPem, caCertPath: ca.certPath, certPath, keyPath, certPem, keyPem };
}
