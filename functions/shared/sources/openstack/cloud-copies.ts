// The cloud-side copy of one disk into a Glance image the export downloads:
//  * volume:   snapshot → volume from snapshot → os-volume_upload_image → image active
//  * image-booted root disk: Nova createImage → image active
// Each temporary resource is registered for removal as soon as it exists.
import { SourceError } from '../source-error.ts';
import type { ExportTiming } from './export-settings.ts';
import type { GlanceImage } from './glance-download.ts';
import { httpError } from './http.ts';
import type { CinderVolume, NovaServer } from './server-model.ts';
import type { OpenstackSession } from './session.ts';
import { deleteImage, deleteSnapshot, deleteVolume, type Temporaries } from './temporaries.ts';
import { waitFor, type WaitVerdict } from './wait.ts';

export interface CloudCopyContext {
  session: OpenstackSession;
  timing: ExportTiming;
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

export async function volumeToImage(
  { session, timing }: CloudCopyContext,
  source: CinderVolume,
  name: string,
  temps: Temporaries,
  signal: AbortSignal,
): Promise<GlanceImage> {
  const snapRes = await session.call<{ snapshot: { id: string; size: number } }>('volume', '/snapshots', {
    method: 'POST',
    headers: JSON_HEADERS,
    data: {
      snapshot: { volume_id: source.id, name, description: 'temporary snapshot of vm-import', force: true },
    },
    what: `snapshotting volume ${source.id}`,
  });
  if (snapRes.status !== 202 && snapRes.status !== 200)
    throw httpError(snapRes.status, snapRes.data, `Snapshotting volume ${source.id}`);
  const snap = snapRes.data.snapshot;
  await temps.add('snapshot', snap.id, () => deleteSnapshot(session, timing, snap.id));
  await waitCinder({ session, timing }, 'snapshots', snap.id, signal);

  const volRes = await session.call<{ volume: { id: string } }>('volume', '/volumes', {
    method: 'POST',
    headers: JSON_HEADERS,
    data: {
      volume: {
        size: snap.size ?? source.size,
        snapshot_id: snap.id,
        name,
        description: 'temporary volume of vm-import',
      },
    },
    what: `creating a volume from snapshot ${snap.id}`,
  });
  if (volRes.status !== 202 && volRes.status !== 200)
    throw httpError(volRes.status, volRes.data, `Creating a volume from snapshot ${snap.id}`);
  const vol = volRes.data.volume;
  await temps.add('volume', vol.id, () => deleteVolume(session, timing, vol.id));
  await waitCinder({ session, timing }, 'volumes', vol.id, signal);

  const upRes = await session.call<{ 'os-volume_upload_image': { image_id: string } }>(
    'volume',
    `/volumes/${vol.id}/action`,
    {
      method: 'POST',
      headers: JSON_HEADERS,
      data: {
        'os-volume_upload_image': {
          image_name: name,
          disk_format: 'raw',
          container_format: 'bare',
          force: false,
        },
      },
      what: `uploading volume ${vol.id} to an image`,
    },
  );
  if (upRes.status !== 202 && upRes.status !== 200)
    throw httpError(upRes.status, upRes.data, `Uploading volume ${vol.id} to an image`);
  const imageId = upRes.data['os-volume_upload_image']?.image_id;
  if (!imageId)
    throw new SourceError(
      'OpenstackRequestFailed',
      `Cinder did not return an image ID for the upload of volume ${vol.id}.`,
    );
  await temps.add('image', imageId, () => deleteImage(session, imageId));
  return waitImage({ session, timing }, imageId, signal, vol.id);
}

export async function serverToImage(
  { session, timing }: CloudCopyContext,
  server: NovaServer,
  name: string,
  temps: Temporaries,
  signal: AbortSignal,
): Promise<GlanceImage> {
  const res = await session.call<{ image_id?: string }>('compute', `/servers/${server.id}/action`, {
    method: 'POST',
    headers: JSON_HEADERS,
    data: { createImage: { name, metadata: { created_by: 'vm-import' } } },
    what: `creating an image of server ${server.id}`,
  });
  if (res.status !== 202) throw httpError(res.status, res.data, `Creating an image of server ${server.id}`);
  // ≥ 2.45: image_id in the body; older: the image URL in the Location header.
  const location = typeof res.headers.location === 'string' ? res.headers.location : '';
  const imageId = res.data?.image_id ?? location.split('/').pop();
  if (!imageId)
    throw new SourceError('OpenstackRequestFailed', `Nova did not return the image of server ${server.id}.`);
  await temps.add('image', imageId, () => deleteImage(session, imageId));
  return waitImage({ session, timing }, imageId, signal);
}

async function cinderMessage(session: OpenstackSession, resourceId: string): Promise<string | undefined> {
  try {
    const res = await session.call<{ messages?: Array<{ user_message?: string }> }>(
      'volume',
      `/messages?resource_uuid=${resourceId}`,
      {
        method: 'GET',
        headers: { 'OpenStack-API-Version': 'volume 3.3' },
        what: `reading messages of ${resourceId}`,
      },
    );
    if (res.status !== 200) return undefined;
    const list = res.data.messages ?? [];
    return list[list.length - 1]?.user_message;
  } catch {
    return undefined;
  }
}

async function waitCinder(
  { session, timing }: CloudCopyContext,
  kind: 'snapshots' | 'volumes',
  id: string,
  signal: AbortSignal,
): Promise<void> {
  const what = `${kind === 'snapshots' ? 'snapshot' : 'volume'} ${id}`;
  await waitFor(
    async () => {
      const res = await session.call<Record<string, { status?: string }>>('volume', `/${kind}/${id}`, {
        method: 'GET',
        signal,
        what: `reading ${what}`,
      });
      if (res.status === 404) return { status: 'missing' };
      if (res.status !== 200) throw httpError(res.status, res.data, `Reading ${what}`);
      return res.data[kind === 'snapshots' ? 'snapshot' : 'volume'] ?? {};
    },
    (v): WaitVerdict => {
      if (v.status === 'available') return { done: true };
      if (v.status === 'missing') return { failed: `${what} disappeared` };
      if (v.status?.startsWith('error')) return { failed: `${what} went to status ${v.status}` };
      return { done: false };
    },
    {
      initialMs: timing.pollInitialMs,
      maxMs: timing.pollMaxMs,
      timeoutMs: timing.waitTimeoutMs,
      signal,
      what: `${what} to become available`,
    },
    async (reason) => {
      const detail = await cinderMessage(session, id);
      return new SourceError('OpenstackResourceFailed', `${reason}${detail ? `: ${detail}` : ''}.`);
    },
  );
}

async function waitImage(
  { session, timing }: CloudCopyContext,
  id: string,
  signal: AbortSignal,
  uploadVolumeId?: string,
): Promise<GlanceImage> {
  return waitFor(
    async () => {
      const res = await session.call<GlanceImage>('image', `/images/${id}`, {
        method: 'GET',
        signal,
        what: `reading image ${id}`,
      });
      if (res.status === 404) return { id, status: 'missing' };
      if (res.status !== 200) throw httpError(res.status, res.data, `Reading image ${id}`);
      return res.data;
    },
    (img): WaitVerdict => {
      if (img.status === 'active') return { done: true };
      if (['killed', 'deleted', 'pending_delete', 'deactivated', 'missing'].includes(img.status ?? ''))
        return { failed: `image ${id} went to status ${img.status}` };
      return { done: false };
    },
    {
      initialMs: Math.min(timing.pollInitialMs, timing.imagePollMaxMs),
      maxMs: timing.imagePollMaxMs,
      timeoutMs: timing.imageTimeoutMs,
      signal,
      what: `image ${id} to become active (raise spec.uploadImageRetryCount or spec.uploadImageRetryDelay for large disks)`,
    },
    async (reason) => {
      const detail = uploadVolumeId ? await cinderMessage(session, uploadVolumeId) : undefined;
      return new SourceError('OpenstackResourceFailed', `${reason}${detail ? `: ${detail}` : ''}.`);
    },
  );
}
