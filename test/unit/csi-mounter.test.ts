// The mounter's socket without a mount: fds crossing a unix socket, the
// request parser's errors, and a mounter served in this process answering
// list, stop and bad requests through the plugin's own client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sys from '../../src/sys/libc.ts';
import { connectUnix, listenUnix, receiveWithFds, sendWithFds, socketpair } from '../../src/sys/socket.ts';
import { startMounter, type Mounter } from '../../src/csi/mounter.ts';
import { MounterClient, MounterUnreachable } from '../../src/csi/mounter-client.ts';
import { MounterProtocolError, parseRequest } from '../../src/csi/mounter-protocol.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'interposer-test-mounter-'));
}

async function withMounter(fn: (m: Mounter, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const m = await startMounter({ socket: join(dir, 'mounter.sock') });
  try {
    await fn(m, dir);
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends raw request bytes (and fds), ends its side, and returns the reply. */
async function rawRequest(socket: string, line: string, fds: number[] = []): Promise<Record<string, unknown>> {
  const fd = connectUnix(socket, 5000);
  assert.ok(fd >= 0, `connect: ${fd}`);
  assert.equal(sendWithFds(fd, Buffer.from(line), fds), Buffer.byteLength(line));
  const sock = new Socket({ fd, readable: true, writable: true });
  sock.end(); // shutdown(SHUT_WR): the mounter sees the end of the request
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  await new Promise((r) => sock.on('close', r));
  return JSON.parse(text) as Record<string, unknown>;
}

test('a file descriptor and its data cross a unix socket; a message with too many fds is refused', () => {
  const dir = tempDir();
  try {
    const pair = socketpair();
    assert.ok(Array.isArray(pair));
    const [a, b] = pair;
    const file = join(dir, 'f');
    const out = openSync(file, 'w');
    assert.equal(sendWithFds(a, Buffer.from('hello'), [out]), 5);
    closeSync(out);
    const got = receiveWithFds(b, 64);
    assert.ok(typeof got !== 'number');
    assert.equal(got.data.toString(), 'hello');
    assert.equal(got.fds.length, 1);
    writeFileSync(got.fds[0], 'written through the received fd');
    closeSync(got.fds[0]);
    assert.equal(readFileSync(file, 'utf8'), 'written through the received fd');
    assert.equal(receiveWithFds(b, 64), -11, 'nothing more: EAGAIN, not a block');
    assert.throws(() => sendWithFds(a, Buffer.from('x'), [0, 0, 0, 0, 0]), /at most 4 fds/);
    sys.close(a);
    sys.close(b);
    assert.throws(() => listenUnix(join(dir, 'x'.repeat(120))), /at most 107 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mounter requests: each mistake is named with what was expected', () => {
  const cases: [string, number, RegExp][] = [
    ['{', 0, /request is not valid JSON/],
    ['[]', 0, /request: expected a JSON object/],
    ['{"op":"format"}', 0, /request op "format" is not known; expected one of launch, stop, list/],
    ['{"op":"list"}', 1, /list: expected no fds attached, got 1/],
    [
      '{"op":"launch","volumeId":"v","mountpoint":"/t","configDoc":{}}',
      1,
      /launch: expected 2 fds \(the mounted \/dev\/fuse fd, then the daemon log fd\) attached, got 1/,
    ],
    ['{"op":"launch","volumeId":"","mountpoint":"/t","configDoc":{}}', 2, /launch: volumeId must be a non-empty string, got ""/],
    ['{"op":"launch","volumeId":"v","mountpoint":"t","configDoc":{}}', 2, /launch: mountpoint must be an absolute path, got "t"/],
    ['{"op":"launch","volumeId":"v","mountpoint":"/t","configDoc":"x"}', 2, /launch: configDoc: expected a JSON object/],
    ['{"op":"launch","volumeId":"v","mountpoint":"/t","configDoc":{},"config":[]}', 2, /launch: config: expected a JSON object/],
    ['{"op":"stop","volumeId":"v","pid":-1}', 0, /stop: pid must be a non-negative integer, got -1/],
  ];
  for (const [line, fds, message] of cases) {
    assert.throws(
      () => parseRequest(line, fds),
      (err: unknown) => err instanceof MounterProtocolError && message.test(err.message),
      line,
    );
  }
  assert.deepEqual(parseRequest('{"op":"stop","volumeId":"v","graceMs":10}', 0), { op: 'stop', volumeId: 'v', graceMs: 10 });
  // The validated config is optional: a launch without one has the daemon validate configDoc itself.
  const launch = '{"op":"launch","volumeId":"v","mountpoint":"/t","configDoc":{"layers":[]}';
  assert.deepEqual(parseRequest(`${launch}}`, 2), { op: 'launch', volumeId: 'v', mountpoint: '/t', configDoc: { layers: [] } });
  assert.deepEqual(parseRequest(`${launch},"config":{"layers":[]}}`, 2), {
    op: 'launch',
    volumeId: 'v',
    mountpoint: '/t',
    configDoc: { layers: [] },
    config: { layers: [] },
  });
});

test('a mounter answers list and stop, refuses bad requests, and a launch whose fd is not /dev/fuse', async () => {
  await withMounter(async (m, dir) => {
    const client = new MounterClient(m.socket);
    const list = await client.list();
    assert.equal(list.instance, m.instance);
    assert.deepEqual(list.daemons, []);
    assert.deepEqual(await client.stop({ volumeId: 'nothing-here' }), { ok: true, instance: m.instance, stopped: false });

    const log = openSync(join(dir, 'log'), 'a+');
    const notFuse = openSync(join(dir, 'not-fuse'), 'w');
    try {
      await assert.rejects(
        client.launch({ volumeId: 'v', mountpoint: '/nowhere', configDoc: {} }, notFuse, log),
        /the mounter refused launch: launch: the first fd attached is not \/dev\/fuse/,
      );
    } finally {
      closeSync(log);
      closeSync(notFuse);
    }
    assert.deepEqual((await client.list()).daemons, [], 'nothing was started');

    assert.deepEqual(await rawRequest(m.socket, '{"op":"format"}\n'), {
      ok: false,
      error: 'request op "format" is not known; expected one of launch, stop, list',
    });
    assert.deepEqual(await rawRequest(m.socket, '{"op":"list"}'), {
      ok: false,
      error: 'request ended without a newline; expected one line of JSON',
    });
  });
});

test('one mounter per socket: a live one is not replaced, a stale socket file is, anything else is refused', async () => {
  await withMounter(async (m, dir) => {
    await assert.rejects(startMounter({ socket: m.socket }), /another mounter is already serving on/);

    const stale = join(dir, 'stale.sock');
    const fd = listenUnix(stale);
    assert.ok(fd >= 0);
    sys.close(fd); // a mounter that died: the file stays, nobody listens
    const next = await startMounter({ socket: stale });
    assert.deepEqual((await new MounterClient(stale).list()).daemons, []);
    await next.close();
    assert.equal(existsSync(stale), false, 'close removes the socket');
    await assert.rejects(
      new MounterClient(stale).list(),
      (err: unknown) => err instanceof MounterUnreachable && /ENOENT/.test(err.message),
    );

    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(startMounter({ socket: file }), /exists and is not a socket; refusing to replace it/);
  });
});
