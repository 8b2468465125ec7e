// The configuration's JSON Schema, for editors: the YAML language server and
// VS Code check and complete a config file that names it. Generated from the
// same zod schema that validates configs, describing what a user writes
// (human units as strings such as "10MiB/s"), not what validation produces.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export const SCHEMA_ID = 'https://interposer.dev/schema/config.json';

export function configJsonSchema(): Record<string, unknown> {
  // Refinements (unit parsing, errno names) cannot be expressed in JSON Schema: those fields are
  // described by their input type, and the daemon's own validation stays the authority.
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: SCHEMA_ID,
    title: 'interposer configuration',
    description:
      'A mount of interposer: backend, mount options, layers (fault, latency, throttle, durability, metrics, trace) and telemetry.',
  };
}
