// Shape of the generated config: per function one ServiceAccount, one ClusterRole of only explicit
// verbs and resources, bound to that account only; Knative Service consistent with func.yaml,
// probes on faas-js-runtime's endpoints, timeouts under Knative's 600 s request limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FUNCTION_NAMES, NAMESPACE, knativeServiceName } from '../../events/routing.ts';
import { funcYaml, knativeService } from '../../config/generators/functions.ts';
import { FUNCTION_PERMISSIONS, exporterClusterRoles, functionRbac } from '../../config/generators/rbac.ts';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Role = { kind: string; metadata: { name: string }; rules: Rule[] };
type Binding = {
  kind: string;
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace: string }[];
};

test('each function: a ClusterRole of explicit rules bound to its own ServiceAccount only', () => {
  for (const fn of FUNCTION_NAMES) {
    const [role, binding] = functionRbac(fn) as unknown as [Role, Binding];
    const sa = knativeServiceName(fn);
    assert.equal(role.metadata.name, sa);
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: sa,
    });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }]);
    assert.ok(role.rules.length > 0 && FUNCTION_PERMISSIONS[fn].every((g) => g.why.length > 0));
    for (const rule of role.rules) {
      for (const list of [rule.apiGroups, rule.resources, rule.verbs])
        assert.ok(!list.includes('*'), `${fn}: no wildcards`);
      if (rule.resources.includes('secrets'))
        assert.ok(!rule.verbs.some((v) => ['list', 'watch'].includes(v)), `${fn}: secrets by name only`);
      if (rule.verbs.includes('bind')) assert.ok(rule.resourceNames?.length, `${fn}: bind only named roles`);
      assert.ok(!rule.verbs.includes('escalate') && !rule.verbs.includes('impersonate'));
    }
  }
  const [exporter, source] = exporterClusterRoles() as unknown as Role[];
  assert.deepEqual(exporter!.rules.flatMap((r) => r.resources).sort(), [
    'configmaps',
    'virtualmachineimports',
    'virtualmachineimports/status',
  ]);
  assert.deepEqual(source!.rules, [
    {
      apiGroups: ['migration.harvesterhci.io'],
      resources: ['openstacksources', 'ovasources', 'vmwaresources'],
      verbs: ['get'],
    },
  ]);
});

test('Knative Services: probes, timeout, scale; func.yaml agrees', () => {
  for (const fn of FUNCTION_NAMES) {
    const svc = knativeService(fn) as {
      metadata: { name: string; namespace: string };
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: {
            serviceAccountName: string;
            timeoutSeconds: number;
            containers: {
              image: string;
              env: { name: string; value: string }[];
              readinessProbe: { httpGet: { path: string; port: number } };
              livenessProbe: { httpGet: { path: string; port: number } };
              ports: { containerPort: number }[];
              resources: { requests: Record<string, string>; limits: Record<string, string> };
            }[];
          };
        };
      };
    };
    const tpl = svc.spec.template;
    const c = tpl.spec.containers[0]!;
    assert.equal(c.readinessProbe.httpGet.path, '/health/readiness');
    assert.equal(c.livenessProbe.httpGet.path, '/health/liveness');
    assert.equal(c.readinessProbe.httpGet.port, c.ports[0]!.containerPort);
    assert.ok(tpl.spec.timeoutSeconds > 0 && tpl.spec.timeoutSeconds <= 120, 'well under 600 s');
    assert.ok(c.resources.requests.memory && c.resources.limits.memory);
    assert.ok(Number(tpl.metadata.annotations['autoscaling.knative.dev/max-scale']) >= 1);
    const f = funcYaml(fn) as {
      name: string;
      namespace: string;
      image: string;
      run: { envs: { name: string; value: string }[] };
      deploy: { namespace: string; serviceAccountName: string };
    };
    assert.equal(f.name, svc.metadata.name);
    assert.equal(f.namespace, svc.metadata.namespace);
    assert.equal(f.image, c.image);
    assert.equal(f.deploy.serviceAccountName, tpl.spec.serviceAccountName);
    assert.deepEqual(f.run.envs, c.env);
  }
});
