// RBAC of the embedded API server with the real kubectl: service-account tokens get exactly what
// their Roles/ClusterRoles grant through bindings, 403 Status with Kubernetes' message otherwise.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DecisionRecord } from '../../local-cluster/apiserver/rbac.ts';
import { startTestApiServer, type TestApiServer } from '../../local-cluster/apiserver/testing.ts';

let api: TestApiServer;
let logDir: string;
let logFile: string;
let token: string;
let other: string;

const setup = `
apiVersion: v1
kind: Namespace
metadata: { name: team }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: worker, namespace: team }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: config-reader, namespace: team }
rules:
  - { apiGroups: [""], resources: [configmaps], verbs: [get, list] }
  - { apiGroups: [""], resources: [secrets], resourceNames: [allowed], verbs: [get] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: worker-config, namespace: team }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader }
subjects: [{ kind: ServiceAccount, name: worker, namespace: team }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: job-status }
rules:
  - { apiGroups: [batch], resources: [jobs/status], verbs: [update] }
  - { apiGroups: [batch], resources: [jobs], verbs: ["*"] }
  - { apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [create] }
  - { apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], resourceNames: [job-status], verbs: [bind] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: worker-jobs }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: job-status }
subjects: [{ kind: ServiceAccount, name: worker, namespace: team }]
---
apiVersion: v1
kind: Secret
metadata: { name: allowed, namespace: team }
stringData: { k: v }
---
apiVersion: v1
kind: Secret
metadata: { name: hidden, namespace: team }
stringData: { k: v }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: c, namespace: team }
data: { k: v }
`;

before(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'rbac-decisions-'));
  logFile = join(logDir, 'decisions.jsonl');
  api = await startTestApiServer({ rbacDecisionLog: logFile });
  const applied = await api.kubectl(['apply', '-f', '-'], { input: setup });
  assert.equal(applied.exitCode, 0, applied.stderr);
  token = api.issueServiceAccountToken('team', 'worker');
  other = api.issueServiceAccountToken('team', 'nobody');
});
after(async () => {
  await api.dispose();
  await rm(logDir, { recursive: true, force: true });
});

const as = (t: string, args: string[], input?: string) =>
  api.kubectl(['--token', t, ...args], input !== undefined ? { input } : {});

test('granted verbs through a RoleBinding work in its namespace only', async () => {
  assert.equal((await as(token, ['-n', 'team', 'get', 'configmap', 'c'])).exitCode, 0);
  assert.equal((await as(token, ['-n', 'team', 'get', 'configmaps'])).exitCode, 0);
  const elsewhere = await as(token, ['-n', 'default', 'get', 'configmaps']);
  assert.notEqual(elsewhere.exitCode, 0);
  assert.match(
    elsewhere.stderr,
    /configmaps is forbidden: User "system:serviceaccount:team:worker" cannot list resource "configmaps" in API group "" in the namespace "default"/,
  );
  const write = await as(token, ['-n', 'team', 'delete', 'configmap', 'c']);
  assert.match(
    write.stderr,
    /configmaps "c" is forbidden: User "system:serviceaccount:team:worker" cannot delete resource "configmaps" in API group "" in the namespace "team"/,
  );
});

test('resourceNames restrict to the named objects; lists are not named', async () => {
  assert.equal((await as(token, ['-n', 'team', 'get', 'secret', 'allowed'])).exitCode, 0);
  const hidden = await as(token, ['-n', 'team', 'get', 'secret', 'hidden']);
  assert.match(hidden.stderr, /secrets "hidden" is forbidden/);
  assert.match((await as(token, ['-n', 'team', 'get', 'secrets'])).stderr, /cannot list resource "secrets"/);
});

test('a ClusterRoleBinding grants everywhere; wildcard verbs; subresources are separate resources', async () => {
  const job = `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","namespace":"default"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"x"}]}}}}`;
  assert.equal((await as(token, ['create', '-f', '-'], job)).exitCode, 0);
  assert.equal((await as(token, ['-n', 'default', 'get', 'jobs'])).exitCode, 0);
  const pods = await as(token, ['get', 'pods', '-A']);
  assert.match(pods.stderr, /cannot list resource "pods" in API group "" at the cluster scope/);
  const status = await as(other, ['replace', '--subresource=status', '-f', '-'], job);
  assert.match(
    status.stderr,
    /jobs.batch "j" is forbidden: User "system:serviceaccount:team:nobody" cannot update resource "jobs\/status" in API group "batch" in the namespace "default"/,
  );
});

test('creating a binding needs bind on its role', async () => {
  const binding = (role: string) =>
    `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b-${role}","namespace":"team"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"${role}"},"subjects":[{"kind":"ServiceAccount","name":"nobody","namespace":"team"}]}`;
  assert.equal((await as(token, ['create', '-f', '-'], binding('job-status'))).exitCode, 0);
  const escalate = await as(token, ['create', '-f', '-'], binding('cluster-admin'));
  assert.match(escalate.stderr, /is attempting to grant RBAC permissions not currently held/);
  // the binding just created gives "nobody" the job permissions in team only
  assert.equal((await as(other, ['-n', 'team', 'get', 'jobs'])).exitCode, 0);
  assert.notEqual((await as(other, ['-n', 'default', 'get', 'jobs'])).exitCode, 0);
});

test('admin is unaffected, unknown tokens get 401, every decision is logged with its rule', async () => {
  assert.equal((await api.kubectl(['get', 'pods', '-A'])).exitCode, 0);
  assert.match((await as('nope', ['get', 'pods'])).stderr, /Unauthorized|must be logged in/);
  const records = (await readFile(logFile, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as DecisionRecord);
  const get = records.find((r) => r.verb === 'get' && r.resource === 'configmaps' && r.allowed);
  assert.deepEqual(get?.grantedBy, {
    role: { kind: 'Role', name: 'config-reader', namespace: 'team' },
    ruleIndex: 0,
    binding: { kind: 'RoleBinding', name: 'worker-config', namespace: 'team' },
  });
  assert.ok(records.some((r) => !r.allowed && r.resource === 'secrets' && r.name === 'hidden'));
  assert.ok(records.every((r) => r.user.startsWith('system:serviceaccount:')));
});
