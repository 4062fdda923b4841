// Runtime settings of the vSphere source (ConfigMap keys → env of the functions and export Job).
export const vmwareSettings = {
  POWER_OFF_TIMEOUT_SECONDS: {
    default: '900',
    description: 'Longest wait for a VMware VM to be off (graceful timeout + forced power-off included).',
  },
} as const;
