// A pod's volumeAttributes → the configuration of its volume. The pod author
// writes these, so everything is validated and every error says, in the
// author's terms, which attribute is wrong and what would be right (it shows
// up in `kubectl describe pod`).
//
// Accepted keys:
//   interposer.dev/config   the whole configuration as inline YAML (or JSON), the
//                           same schema as the CLI's --config file; its backend
//                           may also be { type: scratch }
//   backend                 memory | null | scratch | hostPath   (default: memory)
//   size                    size cap of a memory backend, e.g. 256MiB (default 1GiB)
//   hostPath                a host directory to mirror; only beneath the roots
//                           the cluster admin allow-listed (implies backend hostPath)
// Shorthand keys override the same fields of interposer.dev/config.
// Keys under csi.storage.k8s.io/ are set by kubelet (podInfoOnMount) and become labels.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, validateConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { invalidArgument } from './errors.ts';

export const CONFIG_KEY = 'interposer.dev/config';
const SHORTHAND = ['backend', 'size', 'hostPath'] as const;
const BACKENDS = ['memory', 'null', 'scratch', 'hostPath'] as const;
const KUBELET_PREFIX = 'csi.storage.k8s.io/';

/** podInfoOnMount keys kept as labels (serviceAccount.tokens is a secret: never kept). */
const LABEL_KEYS: Record<string, string> = {
  'csi.storage.k8s.io/pod.name': 'pod',
  'csi.storage.k8s.io/pod.namespace': 'namespace',
  'csi.storage.k8s.io/pod.uid': 'podUid',
  'csi.storage.k8s.io/serviceAccount.name': 'serviceAccount',
  'csi.storage.k8s.io/ephemeral': 'ephemeral',
};

export interface VolumeSpec {
  /** Validated configuration (for a scratch backend, a memory placeholder). */
  config: Config;
  /**
   * The document the daemon validates again, as written (units unconverted, so
   * sections this plugin does not know, like layers, pass through untouched),
   * with the shorthand keys applied and a host path resolved.
   */
  doc: Record<string, unknown>;
  scratch: boolean;
  labels: Record<string, string>;
}

export interface AttributePolicy {
  /** Host directories beneath which a pod may mirror a host path (realpath'd). Empty: none. */
  hostRoots: string[];
  /** The cluster's OTLP collector: the trace sink of a volume whose config names none. */
  otlpEndpoint?: string;
  /** The largest memory backend a pod may ask for, in bytes (it is node RAM); undefined: no limit. */
  maxMemoryBytes?: number;
}

const mib = (bytes: number): string => `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB`;

function bad(msg: string): never {
  throw invalidArgument(`invalid volumeAttributes: ${msg}`);
}

export function podLabels(ctx: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, name] of Object.entries(LABEL_KEYS)) if (ctx[key]) labels[name] = ctx[key];
  return labels;
}

export function parseAttributes(ctx: Record<string, string>, policy: AttributePolicy): VolumeSpec {
  for (const key of Object.keys(ctx)) {
    if (key === CONFIG_KEY || key.startsWith(KUBELET_PREFIX) || (SHORTHAND as readonly string[]).includes(key)) continue;
    bad(`unknown attribute "${key}"; expected ${CONFIG_KEY} (inline YAML) or ${SHORTHAND.join(', ')}`);
  }
  let doc: Record<string, unknown> = {};
  if (ctx[CONFIG_KEY] !== undefined) {
    let parsed: unknown;
    try {
      parsed = parseYaml(ctx[CONFIG_KEY]);
    } catch (err) {
      bad(`${CONFIG_KEY} is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      bad(`${CONFIG_KEY} must be a YAML mapping with fields such as backend and mount`);
    }
    doc = { ...(parsed as Record<string, unknown> | null) };
  }
  checkTelemetry(doc.telemetry);
  let backend = doc.backend as Record<string, unknown> | undefined;
  if (ctx.backend !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(ctx.backend))
      bad(`backend "${ctx.backend}" is not supported; expected one of ${BACKENDS.join(', ')}`);
    if (ctx.backend === 'hostPath' && ctx.hostPath === undefined) bad('backend hostPath needs the hostPath attribute (a host directory)');
    backend = ctx.backend === 'hostPath' ? { type: 'passthrough', path: ctx.hostPath } : { type: ctx.backend };
  }
  if (ctx.hostPath !== undefined) {
    if (ctx.backend !== undefined && ctx.backend !== 'hostPath') bad(`hostPath is set but backend is "${ctx.backend}"; remove one of them`);
    backend = { type: 'passthrough', path: ctx.hostPath };
  }
  if (ctx.size !== undefined) {
    if (backend && backend.type !== 'memory') bad(`size applies to the memory backend only, not "${String(backend.type)}"`);
    backend = { type: 'memory', size: ctx.size };
  }
  const scratch = backend?.type === 'scratch';
  if (scratch) {
    const extra = Object.keys(backend!).filter((k) => k !== 'type');
    if (extra.length) bad(`backend scratch takes no options (found ${extra.join(', ')})`);
    backend = { type: 'memory' }; // placeholder for validation; the manager points it at the scratch directory
  }
  if (backend) doc.backend = backend;
  defaultTraceSink(doc, policy.otlpEndpoint);
  let config: Config;
  try {
    config = validateConfig(structuredClone(doc), CONFIG_KEY in ctx ? CONFIG_KEY : 'volumeAttributes');
  } catch (err) {
    if (err instanceof ConfigError)
      bad(
        err.message
          .replace(/^invalid /, '')
          .replace(/:\n {2}/, ': ')
          .replaceAll('\n  ', '; '),
      );
    throw err;
  }
  const max = policy.maxMemoryBytes;
  if (config.backend.type === 'memory' && !scratch && max !== undefined && config.backend.size > max) {
    // A pod that named no size gets the limit rather than an error about a default it never chose.
    if ((doc.backend as Record<string, unknown> | undefined)?.size === undefined) {
      config.backend.size = max;
      doc.backend = { type: 'memory', size: max };
    } else
      bad(
        `a memory backend of ${mib(config.backend.size)} is above this node's limit of ${mib(max)} (the administrator's maxMemorySize); ask for a smaller size, or use backend scratch for data on the node's disk`,
      );
  }
  if (config.backend.type === 'passthrough') {
    config.backend.path = checkHostPath(config.backend.path, policy);
    doc.backend = { ...config.backend };
  }
  return { config, doc, scratch, labels: podLabels(ctx) };
}

/**
 * The daemon runs as root on the node: a pod may not choose where it writes
 * files (traces.file) or which node ports it opens (metrics); those belong to
 * the administrator. Traces go to an OTLP collector (the chart's otlpEndpoint
 * by default).
 */
function checkTelemetry(t: unknown): void {
  if (t === undefined || t === null || typeof t !== 'object') return;
  const tel = t as { metrics?: unknown; traces?: { file?: unknown } };
  if (tel.metrics !== undefined)
    bad('telemetry.metrics is set by the cluster administrator (one endpoint per node), not by the pod; remove it');
  if (tel.traces && typeof tel.traces === 'object' && tel.traces.file !== undefined) {
    bad(
      'telemetry.traces.file would write a file on the node and is not allowed in a pod; send traces with telemetry.traces.otlp (or rely on the cluster default)',
    );
  }
}

function defaultTraceSink(doc: Record<string, unknown>, otlp: string | undefined): void {
  const layers = Array.isArray(doc.layers) ? doc.layers : [];
  if (!otlp || !layers.some((l) => l !== null && typeof l === 'object' && 'trace' in l)) return;
  const telemetry = { ...(doc.telemetry as Record<string, unknown> | undefined) };
  const traces = { ...(telemetry.traces as Record<string, unknown> | undefined) };
  if (traces.otlp !== undefined) return;
  doc.telemetry = { ...telemetry, traces: { ...traces, otlp } };
}

function checkHostPath(path: string, policy: AttributePolicy): string {
  if (policy.hostRoots.length === 0) {
    bad(
      `host path ${path} refused: this cluster allows no host paths (the administrator lists allowed roots in the chart's hostRoots); use backend memory, null or scratch`,
    );
  }
  if (!isAbsolute(path)) bad(`host path ${path} must be absolute`);
  if (!existsSync(path) || !statSync(path).isDirectory()) bad(`host path ${path} does not exist on this node or is not a directory`);
  const real = realpathSync(path);
  const inside = policy.hostRoots.some((root) => real === root || real.startsWith(root.endsWith(sep) ? root : root + sep));
  if (!inside) bad(`host path ${path} refused: it is not beneath an allowed root (${policy.hostRoots.join(', ')})`);
  return real;
}

/** Realpaths the admin's roots once at start; a root that does not exist is an error. */
export function resolveHostRoots(roots: string[]): string[] {
  return roots.filter(Boolean).map((r) => {
    if (!isAbsolute(r)) throw new Error(`host root ${r} must be an absolute path`);
    if (!existsSync(r)) throw new Error(`host root ${r} does not exist`);
    return realpathSync(r);
  });
}
