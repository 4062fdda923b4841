// Single-pass export of a VMware VM: ExportVm → HttpNfcLease ready → each disk's
// streamOptimized VMDK is downloaded over HTTPS and decoded on the fly into a sparse raw file
// (no VMDK is ever stored), disks in parallel; the lease is kept alive with HttpNfcLeaseProgress,
// completed on success, aborted on failure (partial files removed).
import axios from 'axios';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskFormatError } from '../../disk/errors.ts';
import { decodeStreamOptimizedVmdk } from '../../disk/vmdk-stream.ts';
import { forEachDisk } from '../disk-pool.ts';
import { isScratchFull, scratchFullError } from '../scratch-full.ts';
import { SourceError } from '../source-error.ts';
import { watchForStall } from '../stall-watch.ts';
import { DOWNLOAD_STALL_TIMEOUT_MS } from '../../limits.ts';
import type { DiskProgress, ExportedDisk, ExportOptions } from '../types.ts';
import type { VmwareConnection } from './connection.ts';
import { vmDevices, vmDisks, type VmDisk } from './describe.ts';
import { diskBusForController } from './hardware-mapping.ts';
import { findVm, retrieveObjectProperties, type VmLocation } from './inventory.ts';
import {
  isNotAuthenticated,
  isVimFault,
  renewVimSession,
  vimCall,
  withVimSession,
  type VimSession,
} from './session.ts';
import { asArray, bool, child, moRefArg, num, text, toMoRef, xsiType, type MoRef } from './soap-values.ts';
import { transportProblemOf } from '../transport-errors.ts';

export interface VmwareExportTuning {
  /** How often HttpNfcLeaseProgress keeps the lease alive (upstream: 2 s). */
  leaseProgressIntervalMs?: number;
  /** How long to wait for the lease to leave "initializing". */
  leaseReadyTimeoutMs?: number;
}

export interface LeaseDeviceUrl {
  key: string;
  url: string;
  targetId: string;
  disk: boolean;
  fileSize: number;
}

/** "/vm-13/VirtualLsiLogicController0:1" → controller type, bus, unit (upstream parseDeviceId). */
export function parseDeviceKey(
  key: string,
): { controllerType: string; bus: number; unit: number } | undefined {
  const m = /\/([A-Za-z]+?)(\d+):(\d+)$/.exec(key);
  return m ? { controllerType: m[1]!, bus: Number(m[2]), unit: Number(m[3]) } : undefined;
}

/** The disk a lease device URL belongs to, matched by controller type + bus + unit (B15). */
export function diskForDeviceUrl(disks: readonly VmDisk[], device: LeaseDeviceUrl): number {
  const parsed = parseDeviceKey(device.key);
  if (!parsed) return -1;
  return disks.findIndex(
    (d) =>
      d.controllerType === parsed.controllerType &&
      d.busNumber === parsed.bus &&
      d.unitNumber === parsed.unit,
  );
}

/**
 * A `*` host in a device URL means "the host you talked to" (as upstream's ExportVirtualMachine reads it). The URL receives the
 * session cookie, so it must be https (ESXi hosts other than vCenter's are normal) and carry no
 * user info; anything else is UnsafeDeviceUrl.
 */
export function resolveDeviceUrl(url: string, endpoint: string): string {
  let u: URL;
  try {
    u = new URL(url.replace('://*', '://placeholder.invalid'));
  } catch {
    throw new SourceError(
      'UnsafeDeviceUrl',
      'the export lease gave a disk URL that is not a URL; not downloading',
    );
  }
  if (u.protocol !== 'https:' || u.username !== '' || u.password !== '') {
    throw new SourceError(
      'UnsafeDeviceUrl',
      `the export lease gave a disk URL on ${u.protocol.replace(/:$/, '')}://${u.host}${u.username ? ' with user info' : ''}; the session cookie is only sent over https, so the disk is not downloaded`,
    );
  }
  if (u.hostname === 'placeholder.invalid') {
    const e = new URL(endpoint);
    u.host = e.host;
  }
  return u.toString();
}

function parseDeviceUrls(info: unknown): LeaseDeviceUrl[] {
  return asArray(child(info, 'deviceUrl')).map((d) => ({
    key: text(child(d, 'key')) ?? '',
    url: text(child(d, 'url')) ?? '',
    targetId: text(child(d, 'targetId')) ?? '',
    disk: bool(child(d, 'disk')) === true,
    fileSize: num(child(d, 'fileSize')) ?? 0,
  }));
}

function leaseErrorMessage(error: unknown): string {
  const fault = xsiType(child(error, 'fault')) ?? 'error';
  const message = text(child(error, 'localizedMessage'));
  return message ? `${fault}: ${message}` : fault;
}

async function waitForLeaseReady(
  s: VimSession,
  lease: MoRef,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const props = await retrieveObjectProperties(s, lease, ['state', 'info', 'error']);
    const state = text(props.get('state'));
    if (state === 'ready') return props.get('info');
    if (state === 'error')
      throw new SourceError(
        'ExportLeaseFailed',
        `the export lease failed: ${leaseErrorMessage(props.get('error'))}`,
        { retryable: true },
      );
    if (state === 'done')
      throw new SourceError('ExportLeaseFailed', 'the export lease was completed by someone else', {
        retryable: true,
      });
    if (Date.now() > deadline)
      throw new SourceError(
        'ExportLeaseFailed',
        `the export lease was not ready within ${timeoutMs / 1000} s`,
        { retryable: true },
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/**
 * Exports every disk of the VM (which must be powered off) into `opts.scratchDir` as
 * `disk-<index>.raw` (sparse), in one pass per disk. Returns the disks sorted by index.
 */
export async function exportVmwareVm(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
  opts: ExportOptions,
  tuning: VmwareExportTuning = {},
): Promise<ExportedDisk[]> {
  return withVimSession(conn, async (s) => {
    const ref = await findVm(s, dc, vm);
    const props = await retrieveObjectProperties(s, ref, ['config.hardware.device', 'config.bootOptions']);
    const disks = vmDisks(vmDevices(props.get('config.hardware.device')), props.get('config.bootOptions'));

    await abortEarlierLease(s, opts.scratchDir);
    let lease: MoRef | undefined;
    try {
      lease = toMoRef(await vimCall(s, 'ExportVm', { _this: moRefArg(ref) }));
    } catch (err) {
      if (isVimFault(err, 'InvalidPowerState', 'InvalidState'))
        throw new SourceError('VmNotPoweredOff', `cannot export VM ${vm.name}: it is not powered off`, {
          retryable: true,
        });
      throw err;
    }
    if (!lease)
      throw new SourceError('ExportLeaseFailed', `ExportVm of ${vm.name} returned no lease`, {
        retryable: true,
      });
    await mkdir(opts.scratchDir, { recursive: true });
    await writeFile(join(opts.scratchDir, LEASE_FILE), lease.value);
    try {
      return await runLease(s, lease, vm.name, disks, opts, tuning);
    } finally {
      await rm(join(opts.scratchDir, LEASE_FILE), { force: true });
    }
  });
}

/**
 * The lease an export holds, noted on the scratch volume: an export Job pod killed mid-transfer
 * cannot abort its lease, which would hold the VM's disks until vCenter times it out; the Job's
 * next pod aborts it before asking for a new one.
 */
const LEASE_FILE = '.vmware-export-lease';

async function abortEarlierLease(s: VimSession, scratchDir: string): Promise<void> {
  const value = (await readFile(join(scratchDir, LEASE_FILE), 'utf8').catch(() => '')).trim();
  if (!value) return;
  // Already completed, aborted or timed out: vCenter says InvalidState, which is fine.
  await vimCall(s, 'HttpNfcLeaseAbort', { _this: moRefArg({ type: 'HttpNfcLease', value }) }).catch(
    () => undefined,
  );
  await rm(join(scratchDir, LEASE_FILE), { force: true });
}

async function runLease(
  first: VimSession,
  lease: MoRef,
  vmName: string,
  disks: VmDisk[],
  opts: ExportOptions,
  tuning: VmwareExportTuning,
): Promise<ExportedDisk[]> {
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const written: string[] = [];
  let keepAlive: Promise<void> = Promise.resolve();
  let s = first;
  // vCenter may end the session mid-transfer (it expired, or SessionManager.TerminateSession): the
  // lease's calls log in again once and go on with the same lease. Where the lease did not outlive
  // its session, the call on the new session fails and the export fails as retryable.
  const leaseCall = async (operation: string) => {
    const stale = s;
    const args = () =>
      operation === 'HttpNfcLeaseProgress'
        ? { _this: moRefArg(lease), percent: progressOf() }
        : { _this: moRefArg(lease) };
    try {
      return await vimCall(stale, operation, args());
    } catch (err) {
      if (!isNotAuthenticated(err)) throw err;
      if (s === stale) s = await renewVimSession(stale);
      return vimCall(s, operation, args());
    }
  };
  let progressOf = () => 0;
  try {
    const info = await waitForLeaseReady(s, lease, tuning.leaseReadyTimeoutMs ?? 300_000, stop.signal);
    const devices = parseDeviceUrls(info).filter((d) => d.disk);
    const jobs = devices.map((device) => {
      const index = diskForDeviceUrl(disks, device);
      if (index < 0)
        throw new SourceError(
          'ExportLeaseFailed',
          `the export lease lists device ${device.key}, which matches no disk of VM ${vmName}`,
        );
      return { device, index, disk: disks[index]! };
    });
    if (jobs.length !== disks.length)
      throw new SourceError(
        'ExportLeaseFailed',
        `the export lease offers ${jobs.length} disk(s) but VM ${vmName} has ${disks.length}`,
      );

    const totalBytes = jobs.reduce((n, j) => n + j.device.fileSize, 0);
    const bytesIn = new Map<number, number>();
    progressOf = () => {
      const done = [...bytesIn.values()].reduce((a, b) => a + b, 0);
      return totalBytes > 0 ? Math.min(99, Math.floor((done / totalBytes) * 100)) : 0;
    };
    keepAlive = (async () => {
      const interval = tuning.leaseProgressIntervalMs ?? 2_000;
      while (!stop.signal.aborted) {
        await sleepUnlessAborted(interval, stop.signal);
        if (stop.signal.aborted) return;
        try {
          await leaseCall('HttpNfcLeaseProgress');
        } catch (err) {
          stop.abort(
            new SourceError('ExportLeaseFailed', `the export lease was lost: ${(err as Error).message}`, {
              retryable: true,
            }),
          );
        }
      }
    })();

    const results: ExportedDisk[] = [];
    const report = (p: DiskProgress) => opts.onProgress?.(p);
    await forEachDisk(jobs, opts.concurrency ?? 2, stop, async ({ device, index, disk }) => {
      stop.signal.throwIfAborted();
      const outPath = join(opts.scratchDir, `disk-${index}.raw`);
      written.push(outPath);
      report({ index, phase: 'exporting', bytesDone: 0, bytesTotal: device.fileSize });
      let response;
      try {
        response = await axios.get(resolveDeviceUrl(device.url, s.conn.endpoint), {
          responseType: 'stream',
          httpsAgent: s.agent,
          headers: { Cookie: s.cookie },
          signal: stop.signal,
          maxRedirects: 0,
          validateStatus: (status) => status === 200,
        });
      } catch (err) {
        throw downloadError(err, device.targetId, stop.signal);
      }
      const stallMs = opts.stallTimeoutMs ?? DOWNLOAD_STALL_TIMEOUT_MS;
      const body = watchForStall(
        response.data,
        stallMs,
        () =>
          new SourceError(
            'Timeout',
            `download of ${device.targetId} stalled: no data arrived for ${Math.round(stallMs / 1000)} s (the host serving the disk stopped answering); the export is tried again`,
            { retryable: true },
          ),
      );
      try {
        const result = await decodeStreamOptimizedVmdk(body, outPath, {
          signal: stop.signal,
          onProgress: (n) => {
            bytesIn.set(index, n);
            report({ index, phase: 'exporting', bytesDone: n, bytesTotal: device.fileSize });
          },
        });
        if (disk.sizeBytes > 0 && result.virtualSizeBytes !== disk.sizeBytes)
          throw new SourceError(
            'DiskSizeMismatch',
            `disk ${index} (${disk.label}) of VM ${vmName}: the VMDK holds ${result.virtualSizeBytes} bytes, vCenter says ${disk.sizeBytes}`,
          );
        report({ index, phase: 'done', bytesDone: device.fileSize, bytesTotal: device.fileSize });
        results.push({
          index,
          path: outPath,
          sizeBytes: result.virtualSizeBytes,
          allocatedBytes: result.allocatedBytes,
          ...(diskBusForController(disk.controllerType)
            ? { bus: diskBusForController(disk.controllerType)! }
            : {}),
        });
      } catch (err) {
        body.destroy();
        throw downloadError(err, device.targetId, stop.signal);
      }
    });
    stop.abort();
    await keepAlive;
    await leaseCall('HttpNfcLeaseComplete');
    return results.sort((a, b) => a.index - b.index);
  } catch (err) {
    const failure = stop.signal.reason instanceof SourceError ? stop.signal.reason : err;
    stop.abort(failure);
    await keepAlive;
    await leaseCall('HttpNfcLeaseAbort').catch(() => undefined);
    await Promise.all(written.map((p) => rm(p, { force: true })));
    if (opts.signal?.aborted) throw new SourceError('Aborted', `export of VM ${vmName} was cancelled`);
    throw failure instanceof SourceError
      ? failure
      : new SourceError(
          'ExportFailed',
          `export of VM ${vmName} failed: ${(failure as Error)?.message ?? String(failure)}`,
          {
            retryable: true,
          },
        );
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function downloadError(err: unknown, target: string, signal: AbortSignal): unknown {
  if (signal.aborted && signal.reason instanceof SourceError) return signal.reason;
  if (err instanceof SourceError) return err;
  if (isScratchFull(err)) return scratchFullError(err);
  if (err instanceof DiskFormatError)
    return new SourceError(err.reason, `${target}: ${err.message}`, { retryable: true });
  const problem = transportProblemOf(err);
  const what =
    problem.kind === 'http'
      ? `HTTP ${problem.status}`
      : problem.kind === 'tls-verify' || problem.kind === 'tls-handshake' || problem.kind === 'unreachable'
        ? problem.code
        : problem.kind === 'aborted'
          ? 'aborted'
          : problem.message;
  return new SourceError('DiskDownloadFailed', `download of ${target} failed: ${what}`, { retryable: true });
}
