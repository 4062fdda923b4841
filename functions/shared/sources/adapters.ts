// Every source kind and where its adapter lives: the only file outside a source's folder that
// names the source folders. Adding a kind is its folder plus one line here; the compiler rejects
// a missing kind (`satisfies Record<SourceKind, …>`) and an adapter lacking an operation.
// Adapters load lazily, so a function loads only the source client it uses; their settings load
// eagerly (small constant objects) because the ConfigMap and the export Job's env list them all.
import type { SourceKind } from '../api/index.ts';
import type { SourceAdapter, SourceSetting } from './adapter.ts';
import { openstackSettings } from './openstack/settings.ts';
import { ovaSettings } from './ova/settings.ts';
import { vmwareSettings } from './vmware/settings.ts';

interface SourceRegistration {
  settings: Readonly<Record<string, SourceSetting>>;
  load: () => Promise<{ adapter: SourceAdapter }>;
}

export const SOURCES = {
  VmwareSource: { settings: vmwareSettings, load: () => import('./vmware/adapter.ts') },
  OpenstackSource: { settings: openstackSettings, load: () => import('./openstack/adapter.ts') },
  OvaSource: { settings: ovaSettings, load: () => import('./ova/adapter.ts') },
} satisfies Record<SourceKind, SourceRegistration>;

const loaded = new Set<SourceAdapter>();

/** The adapter of a source kind (loads its client on first use). */
export async function adapterFor(kind: SourceKind): Promise<SourceAdapter> {
  const { adapter } = await SOURCES[kind].load();
  loaded.add(adapter);
  return adapter;
}

/** Closes the sessions of every adapter loaded so far; the process is about to exit. */
export async function closeLoadedAdapters(): Promise<void> {
  await Promise.all([...loaded].map((a) => a.close()));
}

type SettingsOf<K extends SourceKind> = (typeof SOURCES)[K]['settings'];
type AllSourceSettings = { [K in SourceKind]: SettingsOf<K> }[SourceKind];
type KeysOfUnion<T> = T extends unknown ? keyof T : never;
/** Names of every source's runtime settings. */
export type SourceSettingName = KeysOfUnion<AllSourceSettings> & string;

/** Every source's settings with their defaults, merged (names are unique across sources). */
export const sourceSettingDefaults = Object.fromEntries(
  Object.values(SOURCES).flatMap((s) =>
    Object.entries(s.settings as Record<string, SourceSetting>).map(([name, s]) => [name, s.default]),
  ),
) as Record<SourceSettingName, string>;
