// Reading configuration from YAML/JSON text and from CLI shorthands, with
// errors that point at the field.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import type { Config } from './schema.ts';
import { requireLater } from '../util/require.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

function describe(issue: z.core.$ZodIssue): string {
  const at = fieldPath(issue.path);
  if (issue.code === 'invalid_type') {
    return `${at}: ${issue.message.startsWith('Invalid input') ? `expected ${issue.expected}` : issue.message}`;
  }
  return `${at}: ${issue.message}`;
}

/**
 * The schema, required when a document is first validated: zod and the schema built with it are
 * ~6 MiB and ~70 ms of a start, which a daemon handed a config its parent validated does without
 * (cli/serve-fd.ts) until a control request brings a new one.
 */
const schemaModule = requireLater<typeof import('./schema.ts')>(fileURLToPath(new URL('./schema.ts', import.meta.url)));

// Required when a document is first parsed: a daemon started from flags or from the CSI plugin's JSON never
// parses YAML until a control request brings some, and the parser is ~2.4 MiB of its memory.
const yamlModule = requireLater<typeof import('yaml')>('yaml');

/** Validates a parsed document; throws ConfigError listing every problem. */
export function validateConfig(doc: unknown, source = 'config'): Config {
  const res = schemaModule().configSchema.safeParse(doc ?? {});
  if (res.success) return res.data;
  throw new ConfigError(`invalid ${source}:\n  ${res.error.issues.map(describe).join('\n  ')}`);
}

/** A validated config and its layers section as written (the control API edits that). */
export interface LoadedConfig {
  config: Config;
  rawLayers: unknown[];
}

/** A document's layers section as written, which the control API edits. */
export function layersAsWritten(doc: unknown): unknown[] {
  const layers = (doc as { layers?: unknown } | null)?.layers;
  return Array.isArray(layers) ? layers : [];
}

/**
 * A LoadedConfig, as JSON, that the process starting a daemon validated (`mount --daemon` on the daemon's
 * stdin, the CSI plugin as `serve --validated-json`): taken as is, so the daemon does without the schema
 * (~6 MiB and ~70 ms of its start) until a control request brings a new config.
 */
export function handedConfig(json: string, source: string): LoadedConfig {
  const refuse = (why: string): never => {
    throw new ConfigError(`${source} is for the process that starts a daemon; it was not a validated config (${why})`);
  };
  let handed: Partial<LoadedConfig> | null = null;
  try {
    handed = JSON.parse(json) as Partial<LoadedConfig> | null;
  } catch (err) {
    refuse((err as Error).message);
  }
  if (typeof handed?.config?.backend !== 'object' || !Array.isArray(handed.rawLayers)) refuse('expected { config, rawLayers }');
  return handed as LoadedConfig;
}

/** The document in YAML or JSON text, not yet validated. */
export function parseConfigDoc(text: string, source: string): unknown {
  const { parse, YAMLParseError } = yamlModule();
  try {
    return parse(text); // JSON is YAML too
  } catch (err) {
    const why = err instanceof YAMLParseError ? err.message : String(err);
    throw new ConfigError(`${source} is not valid YAML or JSON: ${why}`);
  }
}

export function parseConfigText(text: string, source: string): Config {
  return validateConfig(parseConfigDoc(text, source), source);
}

/** The document in a config file, not yet validated (flags are laid over it first). */
export function readConfigDoc(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return parseConfigDoc(text, path);
}

export function loadConfigFile(path: string): Config {
  return validateConfig(readConfigDoc(path), path);
}

/** `passthrough:DIR`, `memory`, `memory:SIZE`, `null`, `null:SIZE` as a backend section. */
export function parseBackendSpec(spec: string): unknown {
  const colon = spec.indexOf(':');
  const type = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  switch (type) {
    case 'passthrough':
      if (!arg) throw new ConfigError('--backend passthrough needs a directory: --backend passthrough:/path/to/dir');
      return { type, path: arg };
    case 'memory':
      return arg ? { type, size: arg } : { type };
    case 'null':
      return arg ? { type, readSize: arg } : { type };
    default:
      throw new ConfigError(`--backend ${JSON.stringify(spec)}: unknown backend; expected passthrough:DIR, memory[:SIZE] or null[:SIZE]`);
  }
}
