// Turns CLI flags and a config file into one validated Config, and a Config
// into the pieces serve() needs.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, parseBackendSpec, readConfigDoc, validateConfig } from '../config/load.ts';
import type { BackendConfig, Config } from '../config/schema.ts';
import { createMemoryFs } from '../backends/memory.ts';
import { createNullFs } from '../backends/null.ts';
import { createPassthrough } from '../backends/passthrough.ts';
import type { BridgeOptions } from '../vfs/bridge.ts';
import type { Vfs } from '../vfs/types.ts';
import type { Command } from 'commander';
import { buildLayers } from '../layers/build.ts';
import { cacheWarnings } from '../config/warnings.ts';
import { log } from '../util/log.ts';
import { Controller } from '../control/controller.ts';
import { controlSocketFor } from '../control/socket-path.ts';
import type { ServeOptions } from './serve.ts';
import { createStack, type StackVfs } from '../layers/stack.ts';

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
}

/** Adds the flags shared by `mount` and `run`. */
export function addMountFlags(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML or JSON configuration file')
    .option('-b, --backend <spec>', 'passthrough:DIR, memory[:SIZE] or null[:SIZE] (overrides the config file)')
    .option('--cache <mode>', 'page cache: auto, direct (every read/write reaches the daemon) or keep')
    .option('--attr-timeout <duration>', 'how long the kernel caches attributes, e.g. 1s or 0')
    .option('--entry-timeout <duration>', 'how long the kernel caches names, e.g. 1s or 0')
    .option('--kernel-passthrough <mode>', 'auto, on or off: let the kernel serve file data directly')
    .option('--max-write <size>', 'largest read/write request, e.g. 128KiB or 1MiB')
    .option('--allow-other', 'let users other than the mounter access the mount')
    .option('--read-only', 'mount read-only');
}

/** The config file (if any) with the flags laid over it, validated as one document. */
export function configFromFlags(flags: MountFlags, defaultBackend?: string): Config {
  return loadMountConfig(flags, defaultBackend).config;
}

/** The validated config and its layers section as written (the control API edits that). */
export function loadMountConfig(flags: MountFlags, defaultBackend?: string): { config: Config; rawLayers: unknown[] } {
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
  const mount = { ...(doc.mount as Record<string, unknown> | undefined) };
  if (flags.cache !== undefined) mount.cache = flags.cache;
  if (flags.attrTimeout !== undefined) mount.attrTimeout = flags.attrTimeout;
  if (flags.entryTimeout !== undefined) mount.entryTimeout = flags.entryTimeout;
  if (flags.kernelPassthrough !== undefined) mount.kernelPassthrough = flags.kernelPassthrough;
  if (flags.maxWrite !== undefined) mount.maxWrite = flags.maxWrite;
  if (flags.allowOther) mount.allowOther = true;
  if (flags.readOnly) mount.readOnly = true;
  doc.mount = mount;
  const config = validateConfig(doc, flags.config ?? 'options');
  return { config, rawLayers: Array.isArray(doc.layers) ? doc.layers : [] };
}

/** Everything serve() needs for a mount of `config` at `mountpoint`, control API included. */
export function mountPlan(config: Config, rawLayers: unknown[], mountpoint: string): Omit<ServeOptions, 'fd'> {
  for (const warning of cacheWarnings(config)) log.warn(warning);
  const origin = Date.now();
  const vfs = createVfs(config, origin);
  return {
    mountpoint,
    fsname: `interposer:${config.backend.type}`,
    vfs,
    bridge: bridgeOptions(config),
    allowOther: config.mount.allowOther,
    readOnly: config.mount.readOnly,
    control: { controller: new Controller(config, rawLayers, vfs, origin), socket: controlSocketFor(mountpoint) },
  };
}

/** The backend with the config's layers stacked over it. */
export function createVfs(c: Config, origin = Date.now()): StackVfs {
  return createStack(createBackend(c.backend), buildLayers(c.layers, origin));
}

export function createBackend(b: BackendConfig): Vfs {
  switch (b.type) {
    case 'passthrough': {
      const dir = resolve(b.path);
      if (!existsSync(dir)) throw new ConfigError(`backing directory ${dir} does not exist; create it or fix backend.path`);
      if (!statSync(dir).isDirectory()) throw new ConfigError(`backing path ${dir} is not a directory; backend.path must name a directory`);
      return createPassthrough(dir);
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
  };
}
