// Turns CLI flags and a config file into one validated Config, and a Config
// into the pieces serve() needs.
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ConfigError, layersAsWritten, parseBackendSpec, readConfigDoc, validateConfig, type LoadedConfig } from '../config/load.ts';
import { RING_HOWTO, ringSupport } from '../fuse/ring.ts';
import { refuseMountBeneath, type KernelMountFlag } from '../fuse/mount.ts';
import { busyPollWindow } from '../fuse/busy-poll.ts';
import type { BackendConfig, Config } from '../config/schema.ts';
import { METRICS_DATA } from '../config/metrics-data.ts';
import { createMemoryFs } from '../backends/memory.ts';
import { createNullFs } from '../backends/null.ts';
import { createPassthrough } from '../backends/passthrough.ts';
import type { BridgeOptions } from '../vfs/bridge.ts';
import type { Vfs } from '../vfs/types.ts';
import type { Command } from 'commander';
import { buildLayers, type LayerDeps } from '../layers/build.ts';
import { cacheWarnings } from '../config/warnings.ts';
import { log } from '../util/log.ts';
import { Controller } from '../control/controller.ts';
import { controlSocketFor } from '../control/socket-path.ts';
import type { ServeOptions } from './serve.ts';
import { createStack } from '../layers/stack.ts';

export interface MountFlags {
  config?: string;
  backend?: string;
  cache?: string;
  attrTimeout?: string;
  entryTimeout?: string;
  kernelPassthrough?: string;
  allowOther?: boolean;
  readOnly?: boolean;
  maxWrite?: string;
  busyPoll?: string;
  ioUring?: string;
  prefetch?: string;
  metrics?: string;
  metricsData?: string;
  traceFile?: string;
  otlp?: string;
  volume?: string;
}

/** Adds the flags shared by `mount` and `run`. */
export function addMountFlags(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML or JSON configuration file')
    .option('-b, --backend <spec>', 'passthrough:DIR, memory[:SIZE] or null[:SIZE] (overrides the config file)')
    .option('--cache <mode>', 'page cache: auto, direct (every read/write and listing reaches the daemon) or keep')
    .option('--attr-timeout <duration>', 'how long the kernel caches attributes, e.g. 1s or 0')
    .option('--entry-timeout <duration>', 'how long the kernel caches names, e.g. 1s or 0')
    .option('--kernel-passthrough <mode>', 'auto, on or off: let the kernel serve file data directly')
    .option('--max-write <size>', 'largest read/write request, e.g. 128KiB or 1MiB')
    .option(
      '--busy-poll <duration>',
      'busy-poll up to this long for the next request before sleeping (adaptive), e.g. 200us: faster round trips where wake-ups are slow, for some CPU; 0 turns it off; default auto (200us with two CPUs or more, else off)',
    )
    .option(
      '--io-uring <mode>',
      'off (default), on, or auto (when the kernel offers it): receive requests through FUSE over io_uring (Linux 6.14+, fuse enable_uring=Y)',
    )
    .option(
      '--prefetch <size>',
      'passthrough backend: files up to this size opened for reading are read ahead as they are opened, e.g. 128KiB (the default); 0 turns it off',
    )
    .option('--allow-other', 'let users other than the mounter access the mount')
    .option('--read-only', 'mount read-only')
    .option('--metrics <host:port>', 'serve Prometheus metrics there, e.g. 127.0.0.1:9464 (adds a metrics layer if the config has none)')
    .option(
      '--metrics-data <mode>',
      'observe (default: reads and writes go through the daemon, bytes counted) or kernel (kernel passthrough kept; those files are not counted)',
    )
    .option('--trace-file <file>', 'write a span per operation to FILE, one JSON object per line (adds a trace layer if none)')
    .option('--otlp <url>', 'send spans to an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (adds a trace layer if none)')
    .option('--volume <name>', "the volume label of metrics and spans (default: the mountpoint's name)");
}

/** The config file (if any) with the flags laid over it, validated, and its layers section as written. */
export function loadMountConfig(flags: MountFlags, defaultBackend?: string): LoadedConfig {
  let doc: Record<string, unknown> = {};
  if (flags.config) {
    const file = readConfigDoc(flags.config);
    if (file !== null && file !== undefined && (typeof file !== 'object' || Array.isArray(file))) {
      throw new ConfigError(`${flags.config}: expected a mapping with backend, mount and layers sections`);
    }
    doc = { ...(file as Record<string, unknown> | null) };
  }
  const backend = flags.backend ?? (flags.config ? undefined : defaultBackend);
  if (backend) doc.backend = parseBackendSpec(backend);
  if (flags.prefetch !== undefined) doc.backend = withPrefetch(doc.backend, flags.prefetch);
  const mount = { ...(doc.mount as Record<string, unknown> | undefined) };
  if (flags.cache !== undefined) mount.cache = flags.cache;
  if (flags.attrTimeout !== undefined) mount.attrTimeout = flags.attrTimeout;
  if (flags.entryTimeout !== undefined) mount.entryTimeout = flags.entryTimeout;
  if (flags.kernelPassthrough !== undefined) mount.kernelPassthrough = flags.kernelPassthrough;
  if (flags.maxWrite !== undefined) mount.maxWrite = flags.maxWrite;
  if (flags.busyPoll !== undefined) mount.busyPoll = flags.busyPoll;
  if (flags.ioUring !== undefined) mount.ioUring = flags.ioUring;
  if (flags.allowOther) mount.allowOther = true;
  if (flags.readOnly) mount.readOnly = true;
  doc.mount = mount;
  applyTelemetryFlags(doc, flags);
  const config = validateConfig(doc, flags.config ?? 'options');
  return { config, rawLayers: layersAsWritten(doc) };
}

/** The backend section with --prefetch applied: a passthrough backend's option, refused for the others. */
function withPrefetch(backend: unknown, prefetch: string): unknown {
  const type = backend !== null && typeof backend === 'object' ? (backend as { type?: unknown }).type : undefined;
  if (type !== 'passthrough')
    throw new ConfigError(
      `--prefetch applies to the passthrough backend, not ${type === undefined ? 'the default memory backend' : JSON.stringify(type)}; pass --backend passthrough:DIR or drop --prefetch`,
    );
  return { ...(backend as object), prefetch };
}

/**
 * --metrics, --metrics-data, --trace-file, --otlp and --volume: set the telemetry section and add the layers they
 * need (trace outermost). --metrics-data sets the data mode of every metrics layer, the config file's included.
 */
function applyTelemetryFlags(doc: Record<string, unknown>, flags: MountFlags): void {
  if (!flags.metrics && flags.metricsData === undefined && !flags.traceFile && !flags.otlp && !flags.volume) return;
  const t = { ...(doc.telemetry as Record<string, unknown> | undefined) };
  let layers = Array.isArray(doc.layers) ? [...(doc.layers as object[])] : [];
  const has = (kind: string): boolean => layers.some((l) => l !== null && typeof l === 'object' && kind in l);
  if (flags.metrics) {
    t.metrics = flags.metrics;
    if (!has('metrics')) layers.unshift({ metrics: {} });
  }
  if (flags.metricsData !== undefined) {
    const data = flags.metricsData;
    if (!(METRICS_DATA as readonly string[]).includes(data))
      throw new ConfigError(`--metrics-data ${JSON.stringify(data)} is not a mode; expected one of ${METRICS_DATA.join(', ')}`);
    if (!has('metrics'))
      throw new ConfigError('--metrics-data needs a metrics layer: pass --metrics HOST:PORT too, or add { metrics: {} } to the layers');
    layers = layers.map((l) => {
      const m = l !== null && typeof l === 'object' ? (l as { metrics?: unknown }).metrics : undefined;
      return m !== null && typeof m === 'object' && !Array.isArray(m) ? { ...l, metrics: { ...m, data } } : l;
    });
  }
  if (flags.traceFile || flags.otlp) {
    t.traces = {
      ...(t.traces as object | undefined),
      ...(flags.traceFile ? { file: flags.traceFile } : {}),
      ...(flags.otlp ? { otlp: flags.otlp } : {}),
    };
    if (!has('trace')) layers.unshift({ trace: {} });
  }
  if (flags.volume) t.labels = { ...(t.labels as object | undefined), volume: flags.volume };
  doc.telemetry = t;
  doc.layers = layers;
}

/** How the mount itself is made, beyond the config: from `mount -o` (mount-options.ts). */
export interface MountSource {
  /** Shown as the source in /proc/mounts and by df (default interposer:BACKEND). */
  fsname?: string;
  kernelFlags?: readonly KernelMountFlag[];
}

/** Everything serve() needs for a mount of `config` at `mountpoint`, control API included. */
export async function mountPlan(
  config: Config,
  rawLayers: unknown[],
  mountpoint: string,
  source: MountSource = {},
): Promise<Omit<ServeOptions, 'fd'>> {
  if (config.backend.type === 'passthrough') refuseMountBeneath(resolve(config.backend.path), mountpoint);
  const socket = controlSocketFor(mountpoint);
  for (const warning of cacheWarnings(config)) log.warn(warning);
  const origin = Date.now();
  const t = config.telemetry;
  const labels = { volume: basename(resolve(mountpoint)), ...t.labels };
  // Imported only when asked for: a mount without telemetry never loads OpenTelemetry.
  const deps: LayerDeps = {
    labels,
    metrics: t.metrics ? await (await import('../telemetry/metrics.ts')).startMetrics(t.metrics) : undefined,
    tracer: t.traces
      ? await (
          await import('../telemetry/traces.ts')
        ).startTracing(
          { file: t.traces.file, otlp: t.traces.otlp ? { endpoint: t.traces.otlp, protocol: t.traces.protocol } : undefined },
          labels,
        )
      : undefined,
  };
  const meter = deps.metrics?.meter;
  const { registerMountMetrics } = meter ? await import('../telemetry/mount-metrics.ts') : { registerMountMetrics: undefined };
  if (config.mount.ioUring === 'on' && ringSupport() !== 'enabled') {
    throw new ConfigError(`mount.ioUring is on, but ${RING_HOWTO}; or set it to auto or off`);
  }
  const backend = createBackend(config.backend, { noAtime: source.kernelFlags?.includes('noatime') });
  const vfs = createStack(backend, buildLayers(config.layers, origin, deps));
  return {
    mountpoint,
    fsname: source.fsname ?? `interposer:${config.backend.type}`,
    kernelFlags: source.kernelFlags,
    vfs,
    bridge: bridgeOptions(config),
    busyPollMs: busyPollWindow(config.mount.busyPoll),
    allowOther: config.mount.allowOther,
    readOnly: config.mount.readOnly,
    control: { controller: new Controller(config, rawLayers, vfs, origin, deps), socket },
    writesByName: [
      ...(t.traces?.file ? [{ path: t.traces.file, what: 'the trace file' }] : []),
      { path: socket, what: 'the control socket' },
    ],
    onServed:
      meter && registerMountMetrics
        ? (served) =>
            registerMountMetrics(meter, labels, vfs, {
              openFiles: () => served.bridge.openFiles,
              opened: () => served.bridge.openCounts,
            })
        : undefined,
  };
}

export function createBackend(b: BackendConfig, mount: { noAtime?: boolean } = {}): Vfs {
  switch (b.type) {
    case 'passthrough': {
      const dir = resolve(b.path);
      if (!existsSync(dir)) throw new ConfigError(`backing directory ${dir} does not exist; create it or fix backend.path`);
      if (!statSync(dir).isDirectory()) throw new ConfigError(`backing path ${dir} is not a directory; backend.path must name a directory`);
      return createPassthrough(dir, { prefetchMax: b.prefetch, noAtime: mount.noAtime });
    }
    case 'memory':
      return createMemoryFs({ sizeBytes: b.size });
    case 'null':
      return createNullFs(b.readSize > 0 ? { readSize: b.readSize } : {});
  }
}

export function describeBackend(b: BackendConfig): string {
  return b.type === 'passthrough' ? `passthrough:${resolve(b.path)}` : b.type;
}

export function bridgeOptions(c: Config): BridgeOptions {
  const m = c.mount;
  return {
    entryTimeoutMs: m.entryTimeout,
    attrTimeoutMs: m.attrTimeout,
    negativeTimeoutMs: m.negativeTimeout,
    directIo: m.cache === 'direct',
    keepCache: m.cache === 'keep',
    maxWrite: m.maxWrite,
    kernelPassthrough: m.kernelPassthrough !== 'off' && m.cache !== 'direct',
    writebackCache: m.writebackCache,
    maxBackground: m.maxBackground,
    ioUring: m.ioUring !== 'off',
    ringDepth: m.ringDepth,
  };
}
