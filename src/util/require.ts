// require() for what a daemon loads through require() rather than an ES module
// import: modules it needs synchronously but only sometimes (a YAML parser, the
// tracing API, the config schema), which an import would load, and keep in
// memory, whether or not the mount ever uses them; and node:http (util/http.ts).
import { createRequire } from 'node:module';

export const requireModule = createRequire(import.meta.url);
