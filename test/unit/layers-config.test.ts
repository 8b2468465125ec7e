// The `layers` section of a config: what a valid one turns into, and how an
// invalid one is reported (the field, the value, what was expected).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfigText, validateConfig } from '../../src/config/load.ts';
import { buildLayers } from '../../src/layers/build.ts';
import { cacheWarnings } from '../../src/config/warnings.ts';

const fault = (...rules: unknown[]) => ({ layers: [{ fault: { rules } }] });
const latency = (...rules: unknown[]) => ({ layers: [{ latency: { rules } }] });

/** The error lines of an invalid document (without the "invalid config:" header). */
function errors(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    const [head, ...lines] = err.message.split('\n');
    assert.equal(head, 'invalid config:');
    return lines.map((l) => l.trim());
  }
  assert.fail(`expected ${JSON.stringify(doc)} to be rejected`);
}

describe('errnos', () => {
  test('a misspelt errno: the field, the value and the likely one', () => {
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'EIOO' })), [
      'layers[0].fault.rules[0].errno: "EIOO" is not an errno; did you mean EIO?',
    ]);
    assert.deepEqual(errors(fault({ ops: ['write'], errno: 'ENOSPACE' })), [
      'layers[0].fault.rules[0].errno: "ENOSPACE" is not an errno; did you mean ENOSPC?',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'eio' })), [
      'layers[0].fault.rules[0].errno: "eio" is not an errno; did you mean EIO?',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'WHATEVER_HAPPENED' })), [
      'layers[0].fault.rules[0].errno: "WHATEVER_HAPPENED" is not an errno',
    ]);
    // Inside weighted errnos and in a second rule
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'EIO' }, { ops: ['fsync'], errno: [{ EIO: 3 }, { ENOSPCC: 1 }] })), [
      'layers[0].fault.rules[1].errno[1].ENOSPCC: "ENOSPCC" is not an errno; did you mean ENOSPC?',
    ]);
  });

  test('an errno the op can never return is refused (no ENOTDIR on write)', () => {
    assert.deepEqual(errors(fault({ ops: ['write'], errno: 'ENOTDIR' })), [
      "layers[0].fault.rules[0].errno: ENOTDIR is not a result of write; limit the rule's ops to those that can return it",
    ]);
    assert.deepEqual(errors(fault({ ops: ['write', 'fsync'], errno: [{ EIO: 2 }, { ENOTDIR: 1 }] })), [
      "layers[0].fault.rules[0].errno: ENOTDIR is not a result of write, fsync; limit the rule's ops to those that can return it",
    ]);
    // groups are expanded before the check
    const [line] = errors(fault({ ops: ['data'], errno: 'EISDIR' }));
    assert.match(line, /^layers\[0\]\.fault\.rules\[0\]\.errno: EISDIR is not a result of write, fsync, .*flush/);
    // no ops: every op must be able to return it
    assert.match(errors(fault({ errno: 'ENOSPC' }))[0], /ENOSPC is not a result of getattr, .*read,/);
    // a torn write's errno is checked too
    assert.deepEqual(errors(fault({ ops: ['write'], action: { tornWrite: { keep: 0.5, errno: 'ENOENT' } } })), [
      "layers[0].fault.rules[0].action: ENOENT is not a result of write; limit the rule's ops to those that can return it",
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], action: { errno: 'EFBIG' } })), [
      "layers[0].fault.rules[0].action: EFBIG is not a result of read; limit the rule's ops to those that can return it",
    ]);
  });

  test('errnos every op can return, and those an op can, are accepted and normalized to weights', () => {
    const c = validateConfig(
      fault(
        { errno: 'EIO' },
        { ops: ['open'], errno: 'ENOTDIR' },
        { ops: ['write'], errno: ['EIO', { ENOSPC: 3 }, { EDQUOT: 0.5, EFBIG: 1 }] },
        { ops: ['write'], action: { tornWrite: { keep: '1KiB' } } },
      ),
    );
    const rules = c.layers[0].fault!.rules;
    assert.deepEqual(rules[0].errno, [{ errno: 'EIO', weight: 1 }]);
    assert.deepEqual(rules[1].errno, [{ errno: 'ENOTDIR', weight: 1 }]);
    assert.deepEqual(rules[2].errno, [
      { errno: 'EIO', weight: 1 },
      { errno: 'ENOSPC', weight: 3 },
      { errno: 'EDQUOT', weight: 0.5 },
      { errno: 'EFBIG', weight: 1 },
    ]);
    assert.deepEqual(rules[3].action, { tornWrite: { keep: { bytes: 1024 }, errno: 'EIO' } });
    assert.equal(c.layers[0].fault!.seed, 1, 'default seed');
  });

  test('weights must be positive', () => {
    assert.match(errors(fault({ ops: ['read'], errno: [{ EIO: 0 }] }))[0], /^layers\[0\]\.fault\.rules\[0\]\.errno\[0\]\.EIO: /);
  });
});

describe('operations', () => {
  test('an unknown op: did you mean, or the list of ops and groups', () => {
    assert.deepEqual(errors(fault({ ops: ['raed'], errno: 'EIO' })), [
      'layers[0].fault.rules[0].ops[0]: "raed" is not an operation; did you mean read?',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read', 'fsnyc'], errno: 'EIO' })), [
      'layers[0].fault.rules[0].ops[1]: "fsnyc" is not an operation; did you mean fsync?',
    ]);
    assert.deepEqual(errors(latency({ ops: 'metdata', delay: '1ms' })), [
      'layers[0].latency.rules[0].ops: "metdata" is not an operation; did you mean metadata?',
    ]);
    const [line] = errors(fault({ ops: ['frobnicate'], errno: 'EIO' }));
    assert.match(
      line,
      /^layers\[0\]\.fault\.rules\[0\]\.ops\[0\]: "frobnicate" is not an operation; expected one of getattr, setattr, .*, all, data, metadata, namespace, sync$/,
    );
  });

  test('single values become lists', () => {
    const c = validateConfig(
      fault({ ops: 'read', paths: '*.log', exclude: 'x.log', process: { comm: 'python3', uid: 0, pid: 1 }, errno: 'EIO' }),
    );
    const r = c.layers[0].fault!.rules[0];
    assert.deepEqual([r.ops, r.paths, r.exclude, r.process], [['read'], ['*.log'], ['x.log'], { comm: ['python3'], uid: [0], pid: [1] }]);
  });
});

describe('rule fields', () => {
  test('each bad field is reported with its path, all at once', () => {
    assert.deepEqual(
      errors(
        fault({
          ops: ['read'],
          errno: 'EIO',
          probability: 1.5,
          times: 0,
          every: 0,
          after: -1,
          afterBytes: 'lots',
          window: { start: 'soon', from: 'yesterday' },
          size: { min: 'small' },
          colour: 'red',
        }),
      ),
      [
        'layers[0].fault.rules[0].size.min: "small" is not a size; expected a size such as 4096, 64KiB, 10MiB or 1GiB',
        'layers[0].fault.rules[0].probability: Too big: expected number to be <=1',
        'layers[0].fault.rules[0].after: Too small: expected number to be >=0',
        'layers[0].fault.rules[0].every: Too small: expected number to be >=1',
        'layers[0].fault.rules[0].times: Too small: expected number to be >=1',
        'layers[0].fault.rules[0].afterBytes: "lots" is not a size; expected a size such as 4096, 64KiB, 10MiB or 1GiB',
        'layers[0].fault.rules[0].window.start: "soon" is not a duration; expected a duration such as 500us, 5ms, 1s or 2m',
        'layers[0].fault.rules[0].window.from: expected a UTC date and time such as 2026-12-06T10:00:00Z',
        'layers[0].fault.rules[0]: unknown field "colour"; expected name, ops, paths, exclude, process, size, fileSize, probability, after, every, times, afterBytes, window, ramp, ttl, errno, action',
      ],
    );
  });

  test('missing or wrongly typed values say what was expected, not "Invalid input"', () => {
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 5 })), [
      'layers[0].fault.rules[0].errno: 5 is not allowed; expected an errno name or { ERRNO: weight } or a list of them',
    ]);
    assert.deepEqual(errors(fault({ ops: 5, errno: 'EIO' })), [
      'layers[0].fault.rules[0].ops: 5 is not allowed; expected an operation or group or a list of them',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'EIO', ramp: {} })), [
      'layers[0].fault.rules[0].ramp.over: missing; expected a duration such as 500us, 5ms, 1s or 2m',
    ]);
    assert.deepEqual(errors(fault({ ops: ['write'], action: { tornWrite: { errno: 'EIO' } } })), [
      'layers[0].fault.rules[0].action.tornWrite.keep: missing; expected a fraction between 0 and 1 (0.5) or a byte count (4KiB, 100)',
    ]);
    for (const bad of ['half', 1.5, -1]) {
      assert.deepEqual(errors(fault({ ops: ['read'], action: { shortRead: bad } })), [
        `layers[0].fault.rules[0].action.shortRead: ${JSON.stringify(bad)} is not a portion; expected a fraction between 0 and 1 (0.5) or a byte count (4KiB, 100)`,
      ]);
    }
    assert.deepEqual(errors({ layers: [{ throttle: { read: true } }] }), [
      'layers[0].throttle.read: true is not allowed; expected a rate, e.g. 10MiB/s or 500KiB/s',
    ]);
  });

  test('size and fileSize ranges take sizes with units; errors point at min or max', () => {
    const c = validateConfig(
      fault(
        { ops: ['read'], size: { min: '4KiB', max: 65536 }, fileSize: { min: '1MiB', max: '1GiB' }, errno: 'EIO' },
        {
          ops: ['read'],
          fileSize: { max: '1.5KB' },
          errno: 'EIO',
        },
      ),
    );
    const [both, small] = c.layers[0].fault!.rules;
    assert.deepEqual(
      [both.size, both.fileSize, small.fileSize],
      [{ min: 4096, max: 65536 }, { min: 1024 ** 2, max: 1024 ** 3 }, { max: 1500 }],
    );
    assert.deepEqual(
      buildLayers(c.layers, 0)[0].rules!().map((r) => r.spec.fileSize),
      [{ min: 1024 ** 2, max: 1024 ** 3 }, { max: 1500 }],
      'the rule carries the range',
    );
    assert.deepEqual(errors(latency({ fileSize: { min: 'huge' }, delay: '1ms' })), [
      'layers[0].latency.rules[0].fileSize.min: "huge" is not a size; expected a size such as 4096, 64KiB, 10MiB or 1GiB',
    ]);
    assert.deepEqual(errors({ layers: [{ throttle: { rules: [{ fileSize: { max: -1 }, read: '1MiB/s' }] } }] }), [
      'layers[0].throttle.rules[0].fileSize.max: -1 is not a size; expected a size such as 4096, 64KiB, 10MiB or 1GiB',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], fileSize: { atLeast: '1MiB' }, errno: 'EIO' })), [
      'layers[0].fault.rules[0].fileSize: unknown field "atLeast"; expected min, max',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], fileSize: '1MiB', errno: 'EIO' })), [
      'layers[0].fault.rules[0].fileSize: "1MiB" is not allowed; expected a range such as { min: 4KiB, max: 1MiB } (either may be left out)',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], fileSize: { min: '1GiB', max: '1MiB' }, size: { min: 2, max: 1 }, errno: 'EIO' })), [
      'layers[0].fault.rules[0].size.max: 1 bytes is below min (2 bytes); expected max >= min',
      'layers[0].fault.rules[0].fileSize.max: 1048576 bytes is below min (1073741824 bytes); expected max >= min',
    ]);
  });

  test('a fault rule needs exactly one of errno or action, an action exactly one kind', () => {
    assert.deepEqual(errors(fault({ ops: ['read'] })), ['layers[0].fault.rules[0]: a fault rule needs exactly one of errno or action']);
    assert.deepEqual(errors(fault({ ops: ['read'], errno: 'EIO', action: { shortRead: 0.5 } })), [
      'layers[0].fault.rules[0]: a fault rule needs exactly one of errno or action',
    ]);
    assert.deepEqual(errors(fault({ ops: ['write'], action: { shortWrite: 0.5, corrupt: {} } })), [
      'layers[0].fault.rules[0].action: expected exactly one action: errno, shortRead, shortWrite, tornWrite, corrupt, statfs, attr; got shortWrite, corrupt',
    ]);
    assert.deepEqual(errors(fault({ ops: ['read'], action: { explode: true } })), [
      'layers[0].fault.rules[0].action: unknown field "explode"; expected errno, shortRead, shortWrite, tornWrite, corrupt, statfs, attr',
      'layers[0].fault.rules[0].action: expected exactly one action: errno, shortRead, shortWrite, tornWrite, corrupt, statfs, attr; got none',
    ]);
    assert.match(
      errors(fault({ ops: ['read'], action: { corrupt: { mode: 'scramble' } } }))[0],
      /^layers\[0\]\.fault\.rules\[0\]\.action\.corrupt\.mode: /,
    );
  });

  test('actions: portions as fractions or bytes, defaults filled in', () => {
    const c = validateConfig(
      fault(
        { ops: ['read'], action: { shortRead: 0.5 } },
        { ops: ['read'], action: { shortRead: '4KiB' } },
        { ops: ['write'], action: { shortWrite: 100 } },
        { ops: ['read'], action: { corrupt: {} } },
        { ops: ['read'], action: { corrupt: { mode: 'random', bytes: 8 } } },
        { ops: ['statfs'], action: { statfs: { size: '10GiB', free: '1GiB', files: 1000 } } },
        { ops: ['getattr'], action: { attr: { mode: 0o600, size: '1MiB', mtime: '2001-02-03T04:05:06Z', uid: 7, gid: 8 } } },
      ),
    );
    const a = c.layers[0].fault!.rules.map((r) => r.action);
    assert.deepEqual(a, [
      { shortRead: { fraction: 0.5 } },
      { shortRead: { bytes: 4096 } },
      { shortWrite: { bytes: 100 } },
      { corrupt: { mode: 'flip', bytes: 1 } },
      { corrupt: { mode: 'random', bytes: 8 } },
      { statfs: { size: 10 * 1024 ** 3, free: 1024 ** 3, files: 1000 } },
      { attr: { mode: 0o600, size: 1024 ** 2, mtime: '2001-02-03T04:05:06Z', uid: 7, gid: 8 } },
    ]);
  });
});

test('a window whose end comes before its start is refused', () => {
  const window = (from: string, to: string) => fault({ ops: ['read'], errno: 'EIO', window: { from, to } });
  assert.deepEqual(errors(window('2026-01-01T00:00:00Z', '2025-01-01T00:00:00Z')), [
    'layers[0].fault.rules[0].window: expected from before to: this window never opens',
  ]);
  validateConfig(window('2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'));
});

describe('distributions', () => {
  test('bad distributions point inside the distribution', () => {
    assert.deepEqual(errors(latency({ distribution: { lognormal: { median: '10ms', p99: '5ms' } } })), [
      'layers[0].latency.rules[0].distribution.lognormal: expected 0 < median <= p99',
    ]);
    assert.deepEqual(errors(latency({ distribution: { lognormal: { median: 0, p99: '5ms' } } })), [
      'layers[0].latency.rules[0].distribution.lognormal: expected 0 < median <= p99',
    ]);
    assert.deepEqual(errors(latency({ distribution: { fixed: '1ms', uniform: { min: 1, max: 2 } } })), [
      'layers[0].latency.rules[0].distribution: expected exactly one distribution: fixed, uniform, normal, exponential, lognormal, pareto, empirical; got fixed, uniform',
    ]);
    assert.deepEqual(errors(latency({ distribution: { gamma: { k: 1 } } })), [
      'layers[0].latency.rules[0].distribution: unknown field "gamma"; expected fixed, uniform, normal, exponential, lognormal, pareto, empirical',
      'layers[0].latency.rules[0].distribution: expected exactly one distribution: fixed, uniform, normal, exponential, lognormal, pareto, empirical; got none',
    ]);
    assert.deepEqual(errors(latency({ distribution: { uniform: { min: '10ms', max: '1ms' } } })), [
      'layers[0].latency.rules[0].distribution.uniform: expected min <= max',
    ]);
    validateConfig(latency({ distribution: { uniform: { min: '1ms', max: '1ms' } } }));
    assert.deepEqual(errors(latency({ distribution: { uniform: { min: '1parsec', max: '2ms' } } })), [
      'layers[0].latency.rules[0].distribution.uniform.min: "1parsec" is not a duration; expected a duration such as 500us, 5ms, 1s or 2m',
    ]);
    assert.deepEqual(errors(latency({ distribution: { normal: { mean: '1ms' } } })), [
      'layers[0].latency.rules[0].distribution.normal.stddev: missing; expected a duration such as 500us, 5ms, 1s or 2m',
    ]);
    assert.deepEqual(errors(latency({ distribution: { pareto: { scale: '1ms', shape: 0 } } })), [
      'layers[0].latency.rules[0].distribution.pareto.shape: Too small: expected number to be >0',
    ]);
  });

  test('empirical: keys must be percentiles, and there must be one', () => {
    assert.deepEqual(errors(latency({ distribution: { empirical: { p50: '1ms', median: '3ms' } } })), [
      'layers[0].latency.rules[0].distribution.empirical.median: "median" is not a percentile; expected keys like p50, p99.9 (0 to 100)',
    ]);
    assert.deepEqual(errors(latency({ distribution: { empirical: { p50: '1ms', p150: '3ms' } } })), [
      'layers[0].latency.rules[0].distribution.empirical.p150: "p150" is not a percentile; expected keys like p50, p99.9 (0 to 100)',
    ]);
    assert.deepEqual(errors(latency({ distribution: { empirical: {} } })), [
      'layers[0].latency.rules[0].distribution.empirical: expected at least one percentile, e.g. { p50: 1ms, p99: 20ms }',
    ]);
    const c = validateConfig(latency({ distribution: { empirical: { p50: '1ms', 'p99.9': '30ms', '100': '1s' } } }));
    assert.deepEqual(c.layers[0].latency!.rules[0].distribution, { empirical: { p50: 1, 'p99.9': 30, '100': 1000 } });
  });

  test('a latency rule needs exactly one of delay or distribution', () => {
    assert.deepEqual(errors(latency({ delay: '5ms', distribution: { fixed: '1ms' } })), [
      'layers[0].latency.rules[0]: a latency rule needs exactly one of delay or distribution',
    ]);
    assert.deepEqual(errors(latency({ ops: ['read'] })), [
      'layers[0].latency.rules[0]: a latency rule needs exactly one of delay or distribution',
    ]);
  });
});

describe('layers', () => {
  test('metrics: data is observe by default, or kernel; anything else names the field and the modes', () => {
    const withEndpoint = (metrics: unknown) => ({ layers: [{ metrics }], telemetry: { metrics: '127.0.0.1:9464' } });
    assert.deepEqual(validateConfig(withEndpoint({})).layers[0].metrics, { data: 'observe' });
    assert.deepEqual(validateConfig(withEndpoint({ data: 'kernel' })).layers[0].metrics, { data: 'kernel' });
    assert.deepEqual(errors(withEndpoint({ data: 'passthrough' })), [
      'layers[0].metrics.data: "passthrough" is not allowed; expected one of observe, kernel',
    ]);
    assert.deepEqual(errors(withEndpoint({ data: true })), [
      'layers[0].metrics.data: true is not allowed; expected one of observe, kernel',
    ]);
    assert.deepEqual(errors(withEndpoint({ bytes: false })), ['layers[0].metrics: unknown field "bytes"; expected data']);
  });

  test('a layer is exactly one kind; throttle limits are checked', () => {
    assert.deepEqual(errors({ layers: [{ fault: {}, latency: {} }] }), [
      'layers[0]: expected exactly one layer: fault, latency, throttle, metrics, trace, durability; got fault, latency',
    ]);
    assert.deepEqual(errors({ layers: [{ chaos: {} }] }), [
      'layers[0]: unknown field "chaos"; expected fault, latency, throttle, metrics, trace, durability',
      'layers[0]: expected exactly one layer: fault, latency, throttle, metrics, trace, durability; got none',
    ]);
    const [rate, onLimit, ...rest] = errors({ layers: [{ throttle: { read: 'fast', onLimit: 'explode' } }] });
    assert.equal(rate, 'layers[0].throttle.read: "fast" is not a rate; expected e.g. 10MiB/s or 500KiB/s');
    assert.match(onLimit, /^layers\[0\]\.throttle\.onLimit: .*"wait"\|"fail"/);
    assert.deepEqual(rest, []);
    assert.match(errors({ layers: [{ throttle: { rules: [{ iops: -1 }] } }] })[0], /^layers\[0\]\.throttle\.rules\[0\]\.iops: /);
    assert.match(errors({ layers: [{ fault: { seed: 1.5 } }] }).join('\n'), /^layers\[0\]\.fault\.seed: /);
  });

  test('the DESIGN example validates, and builds in order, outermost first', () => {
    const c = parseConfigText(
      `
backend: { type: memory, size: 1GiB }
mount:   { cache: direct, attrTimeout: 1s, entryTimeout: 1s, kernelPassthrough: auto }
telemetry: { traces: { file: /dev/null } }
layers:
  - trace:    { ops: [write, fsync], paths: ["**/*.db*"], minDuration: 1ms, sample: 1 }
  - fault:
      seed: 42
      rules:
        - { ops: [write], paths: ["**/*.log"], errno: ENOSPC, probability: 0.05 }
        - { ops: [read], after: 100, times: 1, action: { shortRead: 0.5 } }
        - { ops: [fsync], errno: [{ EIO: 3 }, { ENOSPC: 1 }], probability: 0.01,
            window: { start: 30s, duration: 60s } }
  - latency:  { rules: [{ ops: [read], distribution: { lognormal: { median: 2ms, p99: 40ms } } }] }
  - throttle: { read: 20MiB/s, write: 5MiB/s, iops: 500, burst: 4MiB }
`,
      'design.yaml',
    );
    assert.deepEqual(
      c.layers.map((l) => Object.keys(l)[0]),
      ['trace', 'fault', 'latency', 'throttle'],
    );
    const layers = buildLayers(c.layers.slice(1), Date.now());
    assert.deepEqual(
      layers.map((l) => l.kind),
      ['fault', 'latency', 'throttle'],
    );
    assert.deepEqual(
      layers[0].rules!().map((r) => r.spec.name),
      ['layers[0].rules[0]', 'layers[0].rules[1]', 'layers[0].rules[2]'],
    );
    assert.ok(layers.every((l) => l.disturbs));
  });

  test('an empty or missing layers section is no layers', () => {
    assert.deepEqual(validateConfig({}).layers, []);
    assert.deepEqual(validateConfig({ layers: [] }).layers, []);
    assert.deepEqual(validateConfig({ layers: [{ fault: {} }] }).layers, [{ fault: { seed: 1, rules: [] } }]);
  });
});

describe('page-cache warnings', () => {
  const warnings = (doc: unknown) => cacheWarnings(validateConfig(doc));
  test('a short-read rule under the page cache: reads would end early, not come back short', () => {
    const doc = fault({ name: 'half', ops: ['read'], action: { shortRead: 0.5 } }, { name: 'eio', ops: ['read'], errno: 'EIO' });
    const [half, eio, ...rest] = warnings(doc);
    assert.match(half, /^fault rule half makes reads short, .* takes a short READ for the end of the file: .*set mount.cache: direct/);
    assert.match(eio, /^fault rule eio acts on reads, but with mount.cache: auto the kernel page cache answers reads of cached data/);
    assert.deepEqual(rest, []);
    assert.deepEqual(warnings({ ...doc, mount: { cache: 'direct' } }), []);
  });
});
