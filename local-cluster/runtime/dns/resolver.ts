// Resolves cluster Service names for the process it runs in by wrapping dns.lookup (which
// net, http, https, undici/fetch and axios all use). The table is a JSON file the runtime
// rewrites atomically whenever Services change; it is re-read when its mtime changes.
import dns from 'node:dns';
import { readFileSync, statSync } from 'node:fs';
import { isClusterName, resolveClusterName, type HostsTable } from './names.ts';

type LookupCallback = (err: NodeJS.ErrnoException | null, address?: unknown, family?: number) => void;

let installed: string | undefined;

export function installClusterDns(hostsFile: string): void {
  if (installed === hostsFile) return;
  installed = hostsFile;
  let cached: HostsTable = {};
  let cachedMtime = -1;
  const table = (): HostsTable => {
    try {
      const m = statSync(hostsFile).mtimeMs;
      if (m !== cachedMtime) {
        cached = JSON.parse(readFileSync(hostsFile, 'utf8')) as HostsTable;
        cachedMtime = m;
      }
    } catch {
      cached = {};
    }
    return cached;
  };
  const original = dns.lookup;
  const patched = function (this: unknown, host: string, opts: unknown, cb?: LookupCallback) {
    const callback = (typeof opts === 'function' ? opts : cb) as LookupCallback;
    const options = (
      typeof opts === 'function' ? {} : typeof opts === 'number' ? { family: opts } : opts
    ) as {
      all?: boolean;
    } | null;
    if (typeof host === 'string' && isClusterName(host)) {
      const address = resolveClusterName(table(), host);
      if (!address) {
        const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${host}`);
        err.code = 'ENOTFOUND';
        process.nextTick(callback, err);
        return;
      }
      if (options?.all) process.nextTick(callback, null, [{ address, family: 4 }]);
      else process.nextTick(callback, null, address, 4);
      return;
    }
    return (original as (...a: unknown[]) => unknown).call(this, host, opts, cb);
  };
  (dns as { lookup: unknown }).lookup = patched;
  const originalPromise = dns.promises.lookup;
  (dns.promises as { lookup: unknown }).lookup = async (host: string, opts?: { all?: boolean }) => {
    if (isClusterName(host)) {
      const address = resolveClusterName(table(), host);
      if (!address) {
        const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${host}`);
        err.code = 'ENOTFOUND';
        throw err;
      }
      return opts?.all ? [{ address, family: 4 }] : { address, family: 4 };
    }
    return (originalPromise as (...a: unknown[]) => unknown)(host, opts);
  };
}
