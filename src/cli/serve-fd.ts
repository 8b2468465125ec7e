// `interposer serve --fd N --config-json JSON MOUNTPOINT`: serve a FUSE
// connection someone else already mounted (the CSI plugin mounts, then starts
// this as a per-volume daemon outside its own process). Nothing is mounted
// here; on SIGTERM the mountpoint is unmounted as with `interposer mount`.
import { resolve } from 'node:path';
import { ConfigError, validateConfig } from '../config/load.ts';
import type { BackendConfig } from '../config/schema.ts';
import { createMemoryFs } from '../backends/memory.ts';
import { createNullFs } from '../backends/null.ts';
import type { Vfs } from '../vfs/types.ts';
import { log } from '../util/log.ts';
import { bridgeOptions, createBackend, describeBackend } from './options.ts';
import { serve } from './serve.ts';

export interface ServeFdFlags {
  fd: string;
  configJson: string;
  rootMode?: string;
}

export async function serveFdCommand(mountpoint: string, flags: ServeFdFlags): Promise<void> {
  const fd = Number(flags.fd);
  if (!Number.isInteger(fd) || fd < 0) throw new ConfigError(`--fd ${flags.fd}: expected a file descriptor number`);
  let doc: unknown;
  try {
    doc = JSON.parse(flags.configJson);
  } catch (err) {
    throw new ConfigError(`--config-json is not valid JSON: ${(err as Error).message}`);
  }
  const config = validateConfig(doc, '--config-json');
  const rootMode = flags.rootMode === undefined ? undefined : parseInt(flags.rootMode, 8);
  if (rootMode !== undefined && (!Number.isInteger(rootMode) || rootMode < 0 || rootMode > 0o7777)) {
    throw new ConfigError(`--root-mode ${flags.rootMode}: expected octal permission bits such as 1777`);
  }
  const served = await serve({
    mountpoint,
    fsname: `interposer:${config.backend.type}`,
    vfs: backendWithRootMode(config.backend, rootMode),
    bridge: bridgeOptions(config),
    allowOther: config.mount.allowOther,
    readOnly: config.mount.readOnly,
    fd,
  });
  log.info({ mountpoint: resolve(mountpoint), backend: describeBackend(config.backend), fd }, 'serving a mounted connection');
  process.send?.('serving');
  process.disconnect?.();
  await served.ended;
  log.info({ mountpoint: resolve(mountpoint) }, 'connection ended');
  process.exit(0);
}

/** A RAM or null root owned by root is unwritable for pods running as other users: let the caller pick its mode (1777 like /tmp). */
function backendWithRootMode(b: BackendConfig, rootMode: number | undefined): Vfs {
  if (rootMode === undefined) return createBackend(b);
  if (b.type === 'memory') return createMemoryFs({ sizeBytes: b.size, rootMode });
  if (b.type === 'null') return createNullFs({ ...(b.readSize > 0 ? { readSize: b.readSize } : {}), rootMode });
  return createBackend(b);
}
