// `interposer csi`: the Kubernetes CSI node plugin. Stopping it (SIGTERM, a
// crash, a rollout) leaves every volume mounted and served by its own daemon.
import { hostname } from 'node:os';
import { log } from '../util/log.ts';

export interface CsiFlags {
  endpoint: string;
  nodeId?: string;
  stateDir: string;
  hostRoot: string[];
  testController?: boolean | string;
  metrics?: string;
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
    testController: flags.testController === undefined ? 'off' : flags.testController === 'advertised' ? 'advertised' : 'hidden',
  });
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping the csi plugin; volumes keep serving');
    void plugin.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
