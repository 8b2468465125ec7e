// The Helm chart: `helm lint`, then `helm template` rendered and checked as
// objects — the CSIDriver kubelet needs for inline volumes, one socket shared
// by plugin, registrar and liveness probe, privileges and mount propagation,
// and the mounter container that runs the volume daemons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DRIVER_NAME } from '../../src/csi/identity.ts';
import { socketPath } from '../../src/csi/server.ts';
import { MOUNTER_CAPABILITIES } from '../helpers/csi.ts';
import { ROOT } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';

const HELM = join(ROOT, '.tools/bin/helm');
const CHART = join(ROOT, 'deploy/helm/interposer');

interface Mount {
  name: string;
  mountPath: string;
  subPath?: string;
  mountPropagation?: string;
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; value?: string }[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  livenessProbe?: object;
  volumeMounts: Mount[];
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
}
interface K8sObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    volumeLifecycleModes?: string[];
    attachRequired?: boolean;
    podInfoOnMount?: boolean;
    template?: { metadata: { annotations?: Record<string, string> }; spec: { containers: Container[]; volumes: Volume[] } };
  };
}

function render(...sets: string[]): K8sObject[] {
  const r = run(HELM, [
    'template',
    'interposer',
    CHART,
    '--namespace',
    'kube-system',
    '--kube-version',
    '1.31.0',
    ...sets.flatMap((s) => ['--set', s]),
  ]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean);
}

function arg(c: Container, flag: string): string | undefined {
  return c.args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/** The volume behind a container path and the path inside that volume (subPath included). */
function volumeOf(c: Container, containerPath: string): { volume: string; path: string } | undefined {
  for (const m of c.volumeMounts) {
    if (containerPath === m.mountPath || containerPath.startsWith(`${m.mountPath}/`)) {
      return { volume: m.name, path: posix.join('/', m.subPath ?? '', posix.relative(m.mountPath, containerPath)) };
    }
  }
  return undefined;
}

/** The host path behind a container path, through the container's hostPath volume mounts. */
function hostPathOf(c: Container, volumes: Volume[], containerPath: string): string | undefined {
  const at = volumeOf(c, containerPath);
  const v = volumes.find((x) => x.name === at?.volume)?.hostPath;
  if (!v || !at) return undefined;
  return at.path === '/' ? v.path : posix.join(v.path, at.path);
}

test('helm is installed (scripts/setup installs it with go install)', () => {
  assert.ok(existsSync(HELM), `${HELM} is missing: run scripts/setup`);
});

test('helm lint passes', () => {
  const r = run(HELM, ['lint', CHART, '--strict', '--kube-version', '1.31.0']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the CSIDriver allows inline ephemeral volumes, no attach, pod info on mount', () => {
  const drivers = render().filter((o) => o.kind === 'CSIDriver');
  assert.equal(drivers.length, 1);
  const d = drivers[0];
  assert.equal(d.metadata.name, DRIVER_NAME, 'the object is named as the plugin reports itself');
  assert.deepEqual(d.spec.volumeLifecycleModes, ['Ephemeral']);
  assert.equal(d.spec.attachRequired, false);
  assert.equal(d.spec.podInfoOnMount, true);
});

test('the DaemonSet: one socket for plugin, registrar and probe; privileged plugin; Bidirectional kubelet dir', () => {
  const objs = render('hostRoots={/srv/datasets}', 'otlpEndpoint=http://collector:4318', 'metrics.port=9999');
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.ok(ds?.spec.template);
  const { containers, volumes } = ds.spec.template.spec;
  const byName = (n: string): Container => {
    const c = containers.find((x) => x.name === n);
    assert.ok(c, `container ${n}`);
    return c;
  };
  const plugin = byName('plugin');
  const registrar = byName('node-driver-registrar');
  const probe = byName('liveness-probe');

  // The socket the plugin serves is the one the sidecars dial, on the same host directory...
  const served = socketPath(arg(plugin, '--endpoint')!);
  const pluginHost = hostPathOf(plugin, volumes, served);
  assert.ok(pluginHost, 'the plugin socket lives on a hostPath volume');
  assert.equal(hostPathOf(registrar, volumes, arg(registrar, '--csi-address')!), pluginHost);
  assert.equal(hostPathOf(probe, volumes, arg(probe, '--csi-address')!), pluginHost);
  // ...and the path the registrar gives kubelet is that host path.
  assert.equal(arg(registrar, '--kubelet-registration-path'), pluginHost);
  assert.equal(pluginHost, `/var/lib/kubelet/plugins/${DRIVER_NAME}/csi.sock`);
  assert.ok(
    registrar.volumeMounts.some(
      (m) => m.mountPath === '/registration' && hostPathOf(registrar, volumes, '/registration') === '/var/lib/kubelet/plugins_registry',
    ),
  );

  assert.equal(plugin.securityContext?.privileged, true);
  const kubelet = plugin.volumeMounts.find((m) => m.mountPath === '/var/lib/kubelet');
  assert.equal(kubelet?.mountPropagation, 'Bidirectional', 'mounts made by the plugin must reach kubelet and pods');
  assert.equal(hostPathOf(plugin, volumes, '/var/lib/kubelet'), '/var/lib/kubelet', 'target paths are host paths');
  assert.equal(hostPathOf(plugin, volumes, '/dev/fuse'), '/dev/fuse');
  for (const c of [registrar, probe]) assert.notEqual(c.securityContext?.privileged, true, `${c.name} needs no privileges`);

  // Values reach the plugin.
  assert.equal(arg(plugin, '--host-root'), '/srv/datasets');
  assert.equal(hostPathOf(plugin, volumes, '/srv/datasets'), '/srv/datasets');
  assert.equal(plugin.env?.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://collector:4318');
  const ann = ds.spec.template.metadata.annotations ?? {};
  assert.equal(ann['prometheus.io/scrape'], 'true');
  assert.equal(ann['prometheus.io/port'], '9999');
});

test('imageRegistry prefixes every image; no host path root is exposed by default', () => {
  const ds = render('imageRegistry=mirror.example.test/k8s').find((o) => o.kind === 'DaemonSet')!;
  for (const c of ds.spec.template!.spec.containers) assert.match(c.image, /^mirror\.example\.test\/k8s\//, c.name);
  const plain = render().find((o) => o.kind === 'DaemonSet')!;
  const plugin = plain.spec.template!.spec.containers.find((c) => c.name === 'plugin')!;
  assert.equal(arg(plugin, '--host-root'), undefined);
});

test('the mounter: same image, `csi mounter` on a socket in an emptyDir shared with the plugin, no privileges', () => {
  const ds = render('hostRoots={/srv/datasets}').find((o) => o.kind === 'DaemonSet');
  assert.ok(ds?.spec.template);
  const { containers, volumes } = ds.spec.template.spec;
  const plugin = containers.find((c) => c.name === 'plugin');
  const mounter = containers.find((c) => c.name === 'mounter');
  assert.ok(plugin && mounter, 'plugin and mounter containers');

  assert.equal(mounter.image, plugin.image, 'the mounter runs the same image');
  assert.deepEqual(mounter.args.slice(0, 2), ['csi', 'mounter']);
  const socket = arg(mounter, '--socket');
  assert.ok(socket, 'the mounter is told its socket');
  assert.equal(arg(plugin, '--mounter-socket'), socket, 'the plugin hands volumes to that socket');
  const shared = volumeOf(mounter, socket);
  assert.ok(shared, 'the socket is on a volume');
  assert.deepEqual(volumeOf(plugin, socket), shared, 'plugin and mounter see the socket on the same volume');
  assert.ok(volumes.find((v) => v.name === shared.volume)?.emptyDir, 'the socket volume is an emptyDir: private to the pod');
  // Each daemon's control socket, which the plugin scrapes for the node metrics, is under /run/interposer (control/socket-path.ts, as root).
  const control = '/run/interposer/0123456789abcdef.sock';
  assert.ok(volumeOf(mounter, control), "the daemons' control sockets are on a volume");
  assert.deepEqual(
    volumeOf(plugin, control),
    volumeOf(mounter, control),
    "the plugin reaches the control sockets of the mounter's daemons",
  );

  // The daemons get their connection as an fd: no device, no kubelet dir, only the granted capabilities.
  const sc = mounter.securityContext;
  assert.notEqual(sc?.privileged, true);
  assert.equal(sc?.allowPrivilegeEscalation, false);
  assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
  assert.deepEqual(sc?.capabilities?.add, MOUNTER_CAPABILITIES, 'the capabilities the csi tests run the mounter with');
  assert.equal(volumeOf(mounter, '/dev/fuse'), undefined, 'no /dev/fuse in the mounter');
  assert.equal(volumeOf(mounter, '/var/lib/kubelet'), undefined, 'no kubelet dir in the mounter');
  assert.equal(mounter.livenessProbe, undefined, 'no liveness probe: restarting the mounter ends every volume');

  // Backing directories at the same host paths the plugin names in the daemons' configs.
  const stateDir = arg(plugin, '--state-dir')!;
  assert.equal(hostPathOf(mounter, volumes, `${stateDir}/scratch/v`), hostPathOf(plugin, volumes, `${stateDir}/scratch/v`));
  assert.equal(hostPathOf(mounter, volumes, `${stateDir}/state.json`), undefined, 'the mounter cannot touch the state file');
  assert.equal(hostPathOf(mounter, volumes, '/srv/datasets/a'), '/srv/datasets/a');
  assert.equal(mounter.volumeMounts.find((m) => m.mountPath === '/srv/datasets')?.mountPropagation, 'HostToContainer');
});

test('kernelPassthrough grants the mounter SYS_ADMIN and nothing else; metrics.data and maxMemorySize reach the plugin', () => {
  const mounterOf = (...sets: string[]) => {
    const ds = render(...sets).find((o) => o.kind === 'DaemonSet')!;
    const containers = ds.spec.template!.spec.containers;
    return { mounter: containers.find((c) => c.name === 'mounter')!, plugin: containers.find((c) => c.name === 'plugin')! };
  };
  const plain = mounterOf();
  assert.deepEqual(plain.mounter.securityContext?.capabilities?.add, MOUNTER_CAPABILITIES);
  assert.equal(plain.plugin.env?.find((e) => e.name === 'INTERPOSER_METRICS_DATA')?.value, 'observe');
  const kp = mounterOf('kernelPassthrough=true', 'metrics.data=kernel');
  assert.deepEqual(kp.mounter.securityContext?.capabilities?.add, [...MOUNTER_CAPABILITIES, 'SYS_ADMIN']);
  assert.notEqual(kp.mounter.securityContext?.privileged, true);
  assert.equal(kp.plugin.env?.find((e) => e.name === 'INTERPOSER_METRICS_DATA')?.value, 'kernel');
  assert.equal(
    plain.plugin.env?.find((e) => e.name === 'INTERPOSER_MAX_MEMORY_SIZE')?.value,
    '4GiB',
    'memory volumes are capped by default',
  );
  assert.equal(mounterOf('maxMemorySize=').plugin.env?.find((e) => e.name === 'INTERPOSER_MAX_MEMORY_SIZE')?.value, '');
});
