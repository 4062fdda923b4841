// Finds a pod's container process as a chaos tool on a node does (through the pod's network
// namespace, the sandbox every container of the pod joins) and kills it with SIGKILL: no grace, no
// preStop, as an OOM kill or a node-level crash ends a container.
import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { LocalCluster } from '../../local-cluster/cluster.ts';

const NETNS_DIR = '/run/netns';

interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  command: string;
}

async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const [status, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    return {
      pid,
      ppid: Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0),
      comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? '',
      command: cmdline.split('\0').filter(Boolean).join(' '),
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** The network namespace (its name under /run/netns) holding `podIp`, among the cluster's pods. */
async function podNetns(cluster: LocalCluster, podIp: string): Promise<string> {
  const prefix = `${cluster.network.plan.namePrefix}-`;
  for (const name of (await readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix))) {
    const { stdout } = await execa('ip', ['-n', name, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], {
      reject: false,
    });
    if (stdout.includes(` ${podIp}/`)) return name;
  }
  throw new Error(`no network namespace holds pod address ${podIp}`);
}

/**
 * The container's own processes in `netns`: those whose parent is the sandbox (bubblewrap's init),
 * not the sandbox itself.
 */
async function containerProcesses(netns: string): Promise<ProcessInfo[]> {
  const { stdout } = await execa('ip', ['netns', 'pids', netns]);
  const infos = (await Promise.all(stdout.split(/\s+/).filter(Boolean).map(Number).map(processInfo))).filter(
    (p): p is ProcessInfo => !!p,
  );
  const byPid = new Map(infos.map((p) => [p.pid, p]));
  return infos.filter((p) => p.comm !== 'bwrap' && byPid.get(p.ppid)?.comm === 'bwrap');
}

/** The main process of a running pod's container. */
export async function findPodContainer(
  cluster: LocalCluster,
  namespace: string,
  podName: string,
): Promise<{ pid: number; command: string }> {
  const pod = await cluster.kube.find('v1', 'Pod', namespace, podName);
  const podIp = (pod?.status as { podIP?: string } | undefined)?.podIP;
  if (!podIp) throw new Error(`pod ${namespace}/${podName} has no address (not running)`);
  const [main] = await containerProcesses(await podNetns(cluster, podIp));
  if (!main) throw new Error(`pod ${namespace}/${podName} has no container process`);
  return { pid: main.pid, command: main.command };
}

/** SIGKILLs the main process of a running pod's container; returns what it killed. */
export async function killPodContainer(
  cluster: LocalCluster,
  namespace: string,
  podName: string,
): Promise<{ pid: number; command: string }> {
  const main = await findPodContainer(cluster, namespace, podName);
  process.kill(main.pid, 'SIGKILL');
  return main;
}

/** The running pods of `namespace` matching a label selector (e.g. "job-name=x"). */
export async function runningPods(
  cluster: LocalCluster,
  namespace: string,
  selector: string,
): Promise<string[]> {
  const out = await cluster.kubectl([
    'get',
    'pods',
    '-n',
    namespace,
    '-l',
    selector,
    '--field-selector=status.phase=Running',
    '-o',
    'jsonpath={.items[*].metadata.name}',
  ]);
  return out.split(/\s+/).filter(Boolean);
}
