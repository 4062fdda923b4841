// The server as a SourceVm, read from Nova (flavor, ports), Cinder (volumes) and Glance (the boot
// image's firmware properties); the mapping itself is server-model.ts (pure).
import type { SourceVm } from '../types.ts';
import type { OpenstackClient } from './client.ts';
import { firmwareFromImageProperties, imageIdOf, toSourceVm } from './server-model.ts';

export async function describeOpenstackServer(client: OpenstackClient, nameOrId: string): Promise<SourceVm> {
  const server = await client.findServer(nameOrId);
  const [flavor, volumes, nics] = [
    await client.flavorOf(server),
    await client.volumesOf(server),
    await client.nicsOf(server),
  ];
  let bootImageProperties: Record<string, unknown> | undefined;
  const imageId = imageIdOf(server);
  if (imageId) bootImageProperties = await client.imageProperties(imageId);
  else bootImageProperties = volumes[0]?.volume_image_metadata;
  const vm = toSourceVm({
    server,
    flavor,
    volumes,
    nics,
    ...(bootImageProperties ? { bootImageProperties } : {}),
  });
  client.log({
    level: 'info',
    msg: 'described server',
    server: server.id,
    firmware: firmwareFromImageProperties(bootImageProperties).type,
  });
  return vm;
}
