// require() for what a daemon loads through require() rather than an ES module
// import: modules it needs synchronously but only sometimes (a YAML parser, the
// tracing API, the config schema), which an import would load, and keep in
// memory, whether or not the mount ever uses them; and node:http (util/http.ts).
import { createRequire } from 'node:module';

export const requireModule = createRequire(import.meta.url);

const deferred = new Set<string>();

/** `id` (a package or an absolute path), required the first time the returned function is called. */
export function requireLater<T>(id: string): () => T {
  deferred.add(id);
  let loaded: T | undefined;
  return () => (loaded ??= requireModule(id) as T);
}

/** Where each module requireLater() deferred would be read from. */
export function deferredModulePaths(): string[] {
  return [...deferred].map((id) => requireModule.resolve(id));
}

/**
 * Requires now every module requireLater() deferred: for a daemon that reads its own files through the
 * mount it serves, where a require made while serving would wait for the daemon itself.
 */
export function requireDeferredNow(): void {
  for (const id of deferred) requireModule(id);
}
