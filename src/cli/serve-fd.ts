// `interposer serve --fd N --config-json JSON MOUNTPOINT`: serve a FUSE
// connection someone else already mounted (the CSI plugin mounts, then starts
// this as a per-volume daemon outside its own process). Nothing is mounted
// here; the stack, telemetry and control API are those of `interposer mount`
// (mountPlan), and on SIGTERM the mountpoint is unmounted as there. The plugin
// validates the document itself and passes the result (--validated-json, see
// handedConfig), so such a daemon never loads the schema unless a control
// request brings a new config.
//
// With --exit-with-parent (the CSI mounter starts daemons so) the IPC channel
// stays open and the daemon exits as soon as it closes, i.e. when the mounter
// dies: outside Kubernetes too, a daemon never outlives the process that
// answers for it. It exits without unmounting: the mount belongs to the
// plugin, and a dead mount fails the workload's I/O loudly where an unmounted
// target would let it write into the node's kubelet directory.
import { endProcess } from './end-process.ts';
import { resolve } from 'node:path';
import { ConfigError, handedConfig, layersAsWritten, validateConfig, type LoadedConfig } from '../config/load.ts';
import { log } from '../util/log.ts';
import { describeBackend, mountPlan } from './options.ts';
import { serve } from './serve.ts';

export interface ServeFdFlags {
  fd: string;
  /** The configuration document, validated here. */
  configJson?: string;
  /** Or the config as the caller validated it (csi/launcher.ts, handedConfig): taken as is. */
  validatedJson?: string;
  exitWithParent?: boolean;
}

function configOf(flags: ServeFdFlags): LoadedConfig {
  if (flags.validatedJson !== undefined) return handedConfig(flags.validatedJson, '--validated-json');
  if (flags.configJson === undefined) throw new ConfigError('serve needs --config-json DOCUMENT or --validated-json CONFIG');
  let doc: unknown;
  try {
    doc = JSON.parse(flags.configJson);
  } catch (err) {
    throw new ConfigError(`--config-json is not valid JSON: ${(err as Error).message}`);
  }
  return { config: validateConfig(doc, '--config-json'), rawLayers: layersAsWritten(doc) };
}

export async function serveFdCommand(mountpoint: string, flags: ServeFdFlags): Promise<void> {
  const fd = Number(flags.fd);
  if (!Number.isInteger(fd) || fd < 0) throw new ConfigError(`--fd ${flags.fd}: expected a file descriptor number`);
  const { config, rawLayers } = configOf(flags);
  const served = await serve({ ...(await mountPlan(config, rawLayers, mountpoint)), fd });
  log.info({ mountpoint: resolve(mountpoint), backend: describeBackend(config.backend), fd }, 'serving a mounted connection');
  process.send?.('serving');
  if (flags.exitWithParent) {
    const orphaned = (): never => {
      log.warn({ mountpoint: resolve(mountpoint) }, 'the process that started this daemon is gone; exiting without unmounting');
      endProcess(0);
    };
    if (process.connected) process.once('disconnect', orphaned);
    else orphaned();
  } else {
    process.disconnect?.();
  }
  await served.ended;
  log.info({ mountpoint: resolve(mountpoint) }, 'connection ended');
  endProcess(0);
}
