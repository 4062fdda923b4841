// Run-time settings of the functions and the export Job: environment variables (filled from the
// ConfigMap `vm-import-settings`), falling back to the defaults of config/generators/settings.ts.
// A value that does not parse falls back to the default too: a typo in the ConfigMap must not
// stop every import.
import { settings } from '../../config/generators/settings.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Settings the export slice reads beyond `settings.runtime` (defaults here, overridable by env). */
export const EXPORT_SETTING_DEFAULTS = {
  /** activeDeadlineSeconds of the export Job: a whole export, however large, must end by then. */
  EXPORT_JOB_DEADLINE_SECONDS: '86400',
  /** Longest wait for a VMware VM to be off (graceful timeout + forced power-off included). */
  POWER_OFF_TIMEOUT_SECONDS: '900',
  /** Longest wait for an OpenStack server to reach SHUTOFF after os-stop. */
  OPENSTACK_STOP_TIMEOUT_SECONDS: '600',
  /** Minimum interval between the export Job's progress writes into the import's status. */
  PROGRESS_INTERVAL_MS: '2000',
} as const;

export type SettingName = keyof typeof settings.runtime | keyof typeof EXPORT_SETTING_DEFAULTS;

function defaultOf(name: SettingName): string {
  return name in EXPORT_SETTING_DEFAULTS
    ? EXPORT_SETTING_DEFAULTS[name as keyof typeof EXPORT_SETTING_DEFAULTS]
    : settings.runtime[name as keyof typeof settings.runtime];
}

/** The setting as a string; empty or missing → the default. */
export function stringSetting(name: SettingName, env: Env = process.env): string {
  const value = env[name]?.trim();
  return value ? value : defaultOf(name);
}

/** The setting as a finite number >= min; anything else → the default. */
export function numberSetting(name: SettingName, env: Env = process.env, min = 0): number {
  const value = Number(env[name]?.trim() || NaN);
  return Number.isFinite(value) && value >= min ? value : Number(defaultOf(name));
}

/** The container image of the functions and the exporter (VM_IMPORT_IMAGE or the release image). */
export function vmImportImage(env: Env = process.env): string {
  return env.VM_IMPORT_IMAGE?.trim() || settings.image;
}
