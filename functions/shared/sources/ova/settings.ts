// Runtime settings of the OVA source: none; everything it needs is in the OvaSource spec
// (url, httpTimeoutSeconds) and its Secret.
import type { SourceSetting } from '../adapter.ts';

export const ovaSettings: Readonly<Record<never, SourceSetting>> = {};
