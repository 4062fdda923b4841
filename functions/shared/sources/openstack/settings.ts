// Runtime settings of the OpenStack source (ConfigMap keys → env of the functions and export Job).
export const openstackSettings = {
  OPENSTACK_STOP_TIMEOUT_SECONDS: {
    default: '600',
    description: 'Longest wait for an OpenStack server to reach SHUTOFF after os-stop.',
  },
} as const;
