// `interposer csi`: the Kubernetes CSI node plugin. Stopping it (SIGTERM, a
// crash) leaves every volume mounted and served by its own daemon; with
// --mounter-socket the daemons are the mounter's (`interposer csi mounter`)
// and also survive a restart of the plugin's container.
import { endProcess } from './end-process.ts';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { METRICS_DATA, type MetricsData } from '../config/metrics-data.ts';
import { ConfigError } from '../config/load.ts';
import { parseSize } from '../config/units.ts';
import { log } from '../util/log.ts';

export interface CsiFlags {
  endpoint: string;
  nodeId?: string;
  stateDir: string;
  hostRoot: string[];
  testController?: boolean | string;
  metrics?: string;
  metricsData?: string;
  maxMemorySize?: string;
  mounterSocket?: string;
}

export interface MounterFlags {
  socket: string;
}

/** sockaddr_un holds 107 bytes of path: say so before anything starts, not at the first volume. */
function checkSocketPath(flag: string, path: string): string {
  if (!isAbsolute(path) || Buffer.byteLength(path) > 107)
    throw new ConfigError(`${flag} ${path}: expected an absolute unix socket path of at most 107 bytes`);
  return path;
}

function maxMemoryOf(size: string | undefined): number | undefined {
  if (size === undefined || size === '') return undefined;
  const bytes = parseSize(size);
  if (bytes === null || bytes <= 0) throw new ConfigError(`--max-memory-size ${JSON.stringify(size)} is not a size; expected e.g. 4GiB`);
  return bytes;
}

function metricsDataOf(mode: string | undefined): MetricsData | undefined {
  if (mode === undefined) return undefined;
  if (!(METRICS_DATA as readonly string[]).includes(mode))
    throw new ConfigError(`--metrics-data ${JSON.stringify(mode)} is not a mode; expected one of ${METRICS_DATA.join(', ')}`);
  return mode as MetricsData;
}

export async function csiCommand(flags: CsiFlags): Promise<void> {
  // Loaded here so other commands do not pay for gRPC.
  const { startPlugin } = await import('../csi/plugin.ts');
  const fromEnv = (process.env.INTERPOSER_HOST_ROOTS ?? '').split(':').filter(Boolean);
  const plugin = await startPlugin({
    endpoint: flags.endpoint,
    nodeId: flags.nodeId || hostname(),
    stateDir: flags.stateDir,
    hostRoots: [...flags.hostRoot, ...fromEnv],
    metrics: flags.metrics ?? (process.env.INTERPOSER_METRICS_PORT ? `0.0.0.0:${process.env.INTERPOSER_METRICS_PORT}` : undefined),
    metricsData: metricsDataOf(flags.metricsData),
    maxMemoryBytes: maxMemoryOf(flags.maxMemorySize),
    testController: flags.testController === undefined ? 'off' : flags.testController === 'advertised' ? 'advertised' : 'hidden',
    ...(flags.mounterSocket ? { mounterSocket: checkSocketPath('--mounter-socket', flags.mounterSocket) } : {}),
  });
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping the csi plugin; volumes keep serving');
    void plugin.close().then(() => endProcess(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * `interposer csi mounter`: owns the volume daemons the plugin hands over.
 * Stopping it ends them all (they exit with it; in a container the kernel
 * would kill them anyway), leaving their volumes dead until unpublished.
 */
export async function csiMounterCommand(flags: MounterFlags): Promise<void> {
  const { startMounter } = await import('../csi/mounter.ts');
  const socket = checkSocketPath('--socket', flags.socket);
  let mounter: Awaited<ReturnType<typeof startMounter>>;
  try {
    mounter = await startMounter({ socket });
  } catch (err) {
    // Another mounter on the socket, or something else in its place: one line, not a stack.
    throw new ConfigError(`csi mounter: ${(err as Error).message}`);
  }
  const stop = (signal: string): void => {
    log.warn({ signal, daemons: mounter.running().length }, 'stopping the mounter; its volume daemons end with it');
    void mounter.close().finally(() => endProcess(0));
  };
  // As a container's PID 1 the process gets no default signal handling: handle them.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
