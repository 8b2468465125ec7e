// What the control API can do to a live mount: read and replace the layers,
// add and remove rules (with a time to live), pause injection, report and wait
// on rule counters. Replacing is atomic: a new stack is built and validated in
// full before it takes the old one's place; a bad config changes nothing.
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, layersAsWritten, validateConfig } from '../config/load.ts';
import { parseDuration } from '../config/units.ts';
import { log } from '../util/log.ts';
import type { Config } from '../config/schema.ts';
import { buildLayers, type LayerDeps } from '../layers/build.ts';
import type { StackVfs } from '../layers/stack.ts';
import type { Rule } from '../rules/rule.ts';
import type { CrashReport, DurabilityLayer } from '../layers/durability.ts';
import type { TraceFilter, TraceLayer } from '../layers/trace.ts';

export interface RuleStatus {
  layer: number;
  kind: string;
  name: string;
  matched: number;
  fired: number;
  expiresAt?: string;
  /** For rules with a window or ramp: when the window opens and (unless never) closes. */
  window?: { from: string; to?: string };
}

export class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type RawLayer = Record<string, { rules?: Array<Record<string, unknown>> } & Record<string, unknown>>;

export class Controller {
  private config: Config;
  /** The layers section as the user wrote it (units unparsed), so rules can be added to it. */
  private rawLayers: RawLayer[];
  private readonly stack: StackVfs;
  /**
   * When each rule's relative window and ramp count from, by rule name: the mount's start for the rules it was
   * mounted with, the time a rule first appeared (add-rule, or a replaced config that brought it) for the others.
   * Rebuilds keep a rule's origin for as long as a rule of that name exists.
   */
  private ruleOrigins: Map<string, number>;
  private readonly expiry = new Map<string, NodeJS.Timeout>();

  private readonly deps: LayerDeps;

  constructor(config: Config, rawLayers: unknown[], stack: StackVfs, origin: number, deps: LayerDeps = { labels: {} }) {
    this.deps = deps;
    this.config = config;
    this.rawLayers = structuredClone(rawLayers) as RawLayer[];
    this.stack = stack;
    this.ruleOrigins = new Map(this.allRules().map(({ rule }) => [rule.spec.name, origin]));
  }

  show(): { config: Config; layers: unknown[]; paused: boolean } {
    return { config: this.config, layers: this.rawLayers, paused: this.stack.paused };
  }

  private allRules(): Array<{ layer: number; kind: string; rule: Rule }> {
    return this.stack.layers().flatMap((l, layer) => (l.rules?.() ?? []).map((rule) => ({ layer, kind: l.kind, rule })));
  }

  rules(): RuleStatus[] {
    return this.allRules().map(({ layer, kind, rule }) => {
      const status: RuleStatus = { layer, kind, name: rule.spec.name, ...rule.counters };
      const w = rule.activeWindow();
      if (w) status.window = { from: new Date(w.from).toISOString(), ...(w.to < Infinity && { to: new Date(w.to).toISOString() }) };
      return status;
    });
  }

  /**
   * Replaces the whole config; backend, mount and telemetry sections must stay as mounted. A document
   * without a telemetry section gets the mount's (which flags such as --metrics may have set), so its
   * metrics and trace layers have the endpoint and sinks they need.
   */
  replace(doc: unknown): void {
    const d = (doc ?? {}) as { backend?: unknown; mount?: unknown; telemetry?: unknown };
    const given = d.telemetry !== undefined;
    const isDocument = typeof doc === 'object' && doc !== null && !Array.isArray(doc);
    const next = validateConfig(isDocument && !given ? { ...d, telemetry: this.config.telemetry } : doc, 'new config');
    if (d.backend !== undefined && !isDeepStrictEqual(next.backend, this.config.backend)) {
      throw new ControlError(409, 'the backend cannot change while mounted; unmount and mount again with the new backend');
    }
    if (d.mount !== undefined && !isDeepStrictEqual(next.mount, this.config.mount)) {
      throw new ControlError(409, 'mount options cannot change while mounted; only layers can be replaced');
    }
    if (given && !isDeepStrictEqual(next.telemetry, this.config.telemetry)) {
      throw new ControlError(
        409,
        `telemetry cannot change while mounted (it is ${JSON.stringify(this.config.telemetry)}); leave the section out to keep it`,
      );
    }
    this.install(next.layers, layersAsWritten(doc) as RawLayer[]);
    // The rules those timers were to remove are gone; a rule of the new config with the same name is not theirs.
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
  }

  /** Adds a rule to layer `layer` (index or kind); with `ttl` ms it removes itself. */
  addRule(layer: number | string, rule: Record<string, unknown>, ttlMs?: number): string {
    const index = typeof layer === 'number' ? layer : this.rawLayers.findIndex((l) => layer in l);
    const target = this.rawLayers[index];
    if (!target)
      throw new ControlError(
        404,
        `no layer ${JSON.stringify(layer)}; the stack has ${this.rawLayers.map((l) => Object.keys(l)[0]).join(', ') || 'no layers'}`,
      );
    const kind = Object.keys(target)[0];
    const rules = target[kind].rules ?? [];
    const name = typeof rule.name === 'string' ? rule.name : `added-${Date.now().toString(36)}-${rules.length}`;
    if (this.allRules().some((r) => r.rule.spec.name === name)) throw new ControlError(409, `a rule named ${name} exists already`);
    const raw = structuredClone(this.rawLayers);
    raw[index][kind].rules = [...rules, { ...rule, name }];
    this.install(this.layersOf(raw, 'rule'), raw);
    // The ttl may come with the request or in the rule itself (validated as a duration by install).
    const ttl =
      ttlMs ?? (typeof rule.ttl === 'string' || typeof rule.ttl === 'number' ? (parseDuration(rule.ttl) ?? undefined) : undefined);
    if (ttl !== undefined) {
      const expire = (): void => {
        this.expiry.delete(name);
        // A throw here would be outside any request and take the mount down; the rule may be gone already.
        try {
          if (this.allRules().some((r) => r.rule.spec.name === name)) this.removeRule(name);
        } catch (err) {
          log.error({ err, rule: name }, 'could not remove a rule whose ttl ended; it stays');
        }
      };
      this.expiry.set(name, setTimeout(expire, ttl).unref());
    }
    return name;
  }

  removeRule(name: string): void {
    const raw = structuredClone(this.rawLayers);
    let found = false;
    for (const l of raw) {
      const body = Object.values(l)[0];
      if (body.rules === undefined) continue; // a layer without rules (trace, metrics) takes no such field
      const before = body.rules.length;
      body.rules = body.rules.filter((r, i) => (r.name ?? `${this.ruleDefaultName(raw.indexOf(l), i)}`) !== name);
      found ||= body.rules.length !== before;
    }
    if (!found) throw new ControlError(404, `no rule named ${name}; see: interposer ctl rules MOUNTPOINT`);
    clearTimeout(this.expiry.get(name));
    this.expiry.delete(name);
    this.install(this.layersOf(raw, 'rules'), raw);
  }

  /** Set by whoever serves the mount: drops the kernel's cached data after a crash. */
  invalidateKernelCache: () => Promise<number> = () => Promise.resolve(0);

  /**
   * Simulated power loss: every durability layer discards its unsynced writes, then the kernel's
   * cache is dropped, and with it the dirty pages it held (`cachedBytes`: those it wrote back
   * meanwhile, dropped unwritten).
   */
  async crash(): Promise<CrashReport & { invalidated: number; cachedBytes: number }> {
    const layers = this.stack.layers().filter((l): l is DurabilityLayer => l.kind === 'durability');
    if (layers.length === 0) {
      throw new ControlError(409, 'no durability layer in this mount: add `- durability: {}` to layers to track unsynced writes');
    }
    const total: CrashReport = { files: 0, bytes: 0 };
    let cachedBytes = 0;
    let invalidated: number;
    try {
      for (const l of layers) {
        const r = await l.crash();
        total.files += r.files;
        total.bytes += r.bytes;
      }
      invalidated = await this.invalidateKernelCache();
    } finally {
      for (const l of layers) cachedBytes += l.restored();
    }
    return { ...total, invalidated, cachedBytes };
  }

  /** Replaces the filter of every trace layer (ops, paths, process, minDuration, errorsOnly, injectedOnly, sample). */
  setTraceFilter(filter: unknown): TraceFilter {
    const layers = this.stack.layers().filter((l): l is TraceLayer => l.kind === 'trace');
    if (layers.length === 0) throw new ControlError(409, 'no trace layer in this mount: add `- trace: {}` to layers with a trace sink');
    const parsed = validateConfig({ layers: [{ trace: filter ?? {} }], telemetry: { traces: { file: '-' } } }, 'trace filter').layers[0]
      .trace!;
    for (const l of layers) l.setFilter(parsed);
    return parsed;
  }

  setPaused(paused: boolean): void {
    this.stack.setPaused(paused);
  }

  /** Resolves once rule `name` has fired `count` times; rejects after `timeoutMs`. */
  async waitFired(name: string, count: number, timeoutMs: number): Promise<RuleStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = this.rules().find((r) => r.name === name);
      if (!status) throw new ControlError(404, `no rule named ${name}`);
      if (status.fired >= count) return status;
      const left = deadline - Date.now();
      if (left <= 0) throw new ControlError(408, `rule ${name} fired ${status.fired} of ${count} times before the timeout`);
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(left, 20)));
    }
  }

  private ruleDefaultName(layer: number, index: number): string {
    return `layers[${layer}].rules[${index}]`;
  }

  /** Validates a raw layers section against the mounted telemetry (the backend and mount options stay as they are). */
  private layersOf(raw: RawLayer[], what: string): Config['layers'] {
    return validateConfig({ layers: raw, telemetry: this.config.telemetry }, what).layers;
  }

  /**
   * Builds the new layers, carries rule counters (and unchanged rules' trigger state) over by name, and swaps
   * them in. A rule keeps its origin; a rule new to the stack counts its window and ramp from now.
   */
  private install(configs: Config['layers'], raw: RawLayer[]): void {
    const now = Date.now();
    const origins = new Map<string, number>();
    const originOf = (name: string): number => {
      const origin = this.ruleOrigins.get(name) ?? now;
      origins.set(name, origin);
      return origin;
    };
    let layers;
    try {
      layers = buildLayers(configs, originOf, this.deps);
    } catch (err) {
      throw new ConfigError(`the new layers could not be built: ${(err as Error).message}`);
    }
    const old = new Map(this.allRules().map(({ rule }) => [rule.spec.name, rule]));
    for (const l of layers) {
      for (const r of l.rules?.() ?? []) {
        const prev = old.get(r.spec.name);
        if (prev) r.continueFrom(prev);
      }
    }
    this.stack.replace(layers);
    this.ruleOrigins = origins;
    this.config = { ...this.config, layers: configs };
    this.rawLayers = raw;
  }
}
