import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { hostname } from 'node:os';
import {
  ConfigError,
  decodeDeadOutboundEntry,
  encodeOutboundEntry,
  loadConfig,
  parseHttpAllowEntry,
} from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type AddressClass, classifyAddress } from '../../src/relay/address-class.js';
import { resolveDestination } from '../../src/relay/pinned-destination.js';
import { createPostAgents, pinnedPost } from '../../src/relay/pinned-post.js';
import { UrlPolicy } from '../../src/relay/url-policy.js';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { type Stack, startStack, stopStacks } from '../helpers/relay-stack.js';

afterEach(stopStacks);
const fx = useProcessFixture();

const NOT_ALLOWED = 'http: not allowed by REDISPATCH_HTTP_ALLOW';
const BIG_BODY_BYTES = 50 * 1024 * 1024;

/** Whether every address `name` resolves to is loopback. */
async function resolvesToLoopbackOnly(name: string): Promise<boolean> {
  const addresses = await lookup(name, { all: true }).catch(() => []);
  return addresses.length > 0 && addresses.every((a) => classifyAddress(a.address) === 'loopback');
}

/**
 * A name other than "localhost" that resolves to loopback only (so a test may name it without leaving
 * the box): this machine's name, else any loopback name in /etc/hosts (Debian's `127.0.1.1 <host>`,
 * Docker's `ip6-localhost`), so the test below runs on every usual machine, not only where the
 * machine's own name happens to be loopback; where no such name exists it skips, loudly.
 */
async function loopbackName(): Promise<string | undefined> {
  const hostsNames = (await readFile('/etc/hosts', 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim().split(/\s+/))
    .filter(
      ([address]) => address !== undefined && isIP(address) !== 0 && classifyAddress(address) === 'loopback',
    )
    .flatMap(([, ...names]) => names);
  for (const name of [hostname(), ...hostsNames]) {
    if (name && name !== 'localhost' && (await resolvesToLoopbackOnly(name))) return name;
  }
  return undefined;
}
const machine = await loopbackName();
if (machine === undefined)
  console.warn(
    'relay-http-ssrf: no name but localhost resolves to loopback here: the resolution test is SKIPPED',
  );
const machineIsLoopback = machine !== undefined;

interface Hit {
  path: string;
  host: string | undefined;
  body: string;
}

/**
 * A loopback HTTP server recording every request. `/big` answers 200 with a 50 MB body written with
 * backpressure (`big.finished` tells whether the client read all of it); `/silent` never answers.
 */
async function hookServer() {
  const hits: Hit[] = [];
  const big = { finished: false, closed: false };
  const server: Server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      hits.push({
        path: request.url ?? '',
        host: request.headers.host,
        body: Buffer.concat(chunks).toString(),
      });
      if (request.url === '/silent') return;
      if (request.url !== '/big') return void response.writeHead(200).end();
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const pump = () => {
        while (sent < BIG_BODY_BYTES) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      response.on('finish', () => {
        big.finished = true;
      });
      response.on('close', () => {
        big.closed = true;
      });
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hits,
    big,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Queues HTTP replies as a worker would (the raw replyTo strings, untouched). */
async function queueReplies(stack: Stack, urls: readonly string[]): Promise<void> {
  const [seconds] = await fx.admin.time();
  const now = Number(seconds) * 1000;
  for (const [index, replyTo] of urls.entries()) {
    const entry = {
      messageId: String(index + 1),
      replyTo,
      payload: Buffer.from(`m${index + 1}`),
      text: true,
    };
    await fx.admin.lpush(stack.keys.outbound('http'), encodeOutboundEntry(entry, now));
  }
}

async function deadLetters(stack: Stack) {
  const raw = await fx.admin.lrangeBuffer(stack.keys.outboundDead, 0, -1);
  return raw.map((entry) => decodeDeadOutboundEntry(entry));
}

/** Waits until `count` replies are dead-lettered and none is left in flight; returns url → reason. */
async function settled(stack: Stack, count: number): Promise<Map<string, string>> {
  await expect.poll(async () => (await deadLetters(stack)).length, { timeout: 15_000 }).toBe(count);
  await expect
    .poll(() => fx.admin.llen(stack.keys.outboundProcessing('http', stack.relayId)), { timeout: 10_000 })
    .toBe(0);
  expect(await fx.admin.llen(stack.keys.outbound('http'))).toBe(0);
  return new Map((await deadLetters(stack)).map((d) => [d.entry?.replyTo ?? '', d.reason]));
}

describe('address classifier', () => {
  const table: [string, AddressClass][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.5', 'private'],
    ['169.254.169.254', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:7f00:1::1', 'loopback'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2001:4860:4860::8888', 'public'],
  ];
  it.each(table)('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe('REDISPATCH_HTTP_ALLOW entries and matching', () => {
  it('a bad entry is a one-line config error naming the variable', () => {
    for (const [value, why] of [
      ['controller.internal/hooks', /entry 1 .*is not an absolute URL/],
      ['http://ok/,ftp://files/', /entry 2 .*scheme "ftp"/],
      ['http://user@controller.internal/', /entry 1 .*user info/],
      ['http://controller.internal/hooks%2E%2E', /entry 1 .*encoded/],
      ['http://controller.internal/hooks?x=1', /entry 1 .*query/],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ REDISPATCH_HTTP_ALLOW: value });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^REDISPATCH_HTTP_ALLOW \(--http-allow\) /);
      expect(problems[0]).toMatch(why);
      expect(problems[0]).not.toContain('\n');
    }
  });

  it('admits only the same origin, and paths at or below the entry on a segment boundary', () => {
    const policy = new UrlPolicy(
      ['https://controller.internal/hooks', 'http://127.0.0.1:8080/'].map(parseHttpAllowEntry),
    );
    const allowed = (url: string) => policy.check(url).kind === 'allowed';
    expect(allowed('https://controller.internal/hooks')).toBe(true);
    expect(allowed('https://controller.internal/hooks/')).toBe(true);
    expect(allowed('https://CONTROLLER.internal:443/hooks/a/b?x=../y')).toBe(true);
    expect(allowed('http://127.0.0.1:8080/anything')).toBe(true);
    for (const url of [
      'https://controller.internal/hooksx',
      'https://controller.internal/hooks/../admin/delete',
      'https://controller.internal/hooks/%2e%2e/internal',
      'https://controller.internal/hooks/%2E%2E/internal',
      'https://controller.internal/hooks%2f..%2fadmin',
      'https://controller.internal/hooks/a%5c..%5cb',
      'https://controller.internal.evil.com/hooks/x',
      'https://controller.internal@10.0.0.5/hooks/x',
      'https://x@controller.internal/hooks/x',
      'http://controller.internal/hooks/x',
      'https://controller.internal:8443/hooks/x',
      'http://127.0.0.1:808/x',
      'http://localhost:8080/x',
      'ftp://controller.internal/hooks/x',
      'not a url',
    ]) {
      expect([url, policy.check(url).kind]).toEqual([url, 'refused']);
    }
    expect(new UrlPolicy([]).check('https://controller.internal/hooks').kind).toBe('refused');
  });
});

describe('destination check and pinning', () => {
  it('the connection goes to the checked address, never to a fresh DNS answer', async () => {
    const hook = await hookServer();
    const agents = createPostAgents(2);
    // A .invalid name never resolves (RFC 6761): the POST can only arrive through the pinned address.
    const url = new URL(`http://rebind.invalid:${hook.port}/hooks/pinned`);
    const status = await pinnedPost({
      url,
      addresses: [{ address: '127.0.0.1', family: 4 }],
      body: Buffer.from('pinned'),
      headers: {},
      signal: AbortSignal.timeout(5_000),
      agents,
    });
    expect(status).toBe(200);
    expect(hook.hits).toEqual([
      { path: '/hooks/pinned', host: `rebind.invalid:${hook.port}`, body: 'pinned' },
    ]);
    agents.http.destroy();
    await hook.close();
  });

  it('localhost and IP literals named by an entry are allowed; other names resolving to loopback are not', async () => {
    const byLocalhost = parseHttpAllowEntry('http://localhost:8080/');
    const localhost = await resolveDestination(new URL('http://localhost:8080/x'), byLocalhost);
    expect(localhost.kind).toBe('pinned');
    const literal = parseHttpAllowEntry('http://[::ffff:169.254.169.254]/');
    expect((await resolveDestination(new URL('http://[::ffff:169.254.169.254]/x'), literal)).kind).toBe(
      'pinned',
    );
    const unspecified = parseHttpAllowEntry('http://0.0.0.0:8080/');
    expect((await resolveDestination(new URL('http://0.0.0.0:8080/x'), unspecified)).kind).toBe('refused');
    if (machineIsLoopback) {
      const byName = parseHttpAllowEntry(`http://${machine}:8080/`);
      const named = await resolveDestination(new URL(`http://${machine}:8080/x`), byName);
      expect(named).toEqual({ kind: 'refused', why: expect.stringContaining('(loopback)') });
    }
  });
});

describe('relay HTTP deliverer against request forgery', () => {
  it('with no REDISPATCH_HTTP_ALLOW nothing is POSTed: replies are dead-lettered, and the relay warns once', async () => {
    const hook = await hookServer();
    const stack = await startStack(fx, 'ssrf-default', {}, { worker: false });
    await stack.relay.waitForLog(/HTTP delivery is on but REDISPATCH_HTTP_ALLOW allows nothing/);
    const urls = [`http://127.0.0.1:${hook.port}/hook`, `http://localhost:${hook.port}/hook`];
    await queueReplies(stack, urls);
    const reasons = await settled(stack, 2);
    expect(urls.map((url) => reasons.get(url))).toEqual([NOT_ALLOWED, NOT_ALLOWED]);
    expect(hook.hits).toEqual([]);
    expect(stack.relay.output().match(/allows nothing/g)).toHaveLength(1);
    await hook.close();
  });

  it('path traversal, encoded separators, user info and look-alike origins are refused; the server sees only the allowed path', async () => {
    const hook = await hookServer();
    const base = `http://127.0.0.1:${hook.port}`;
    // A port that is a prefix of the server's: the old startsWith check admitted the server through it.
    const shorterPort = `http://127.0.0.1:${String(hook.port).slice(0, -1)}`;
    const stack = await startStack(
      fx,
      'ssrf-bypass',
      { REDISPATCH_HTTP_ALLOW: `${base}/hooks,${shorterPort}` },
      { worker: false },
    );
    const forbidden = [
      `${base}/hooks/../admin`,
      `${base}/hooks/%2e%2e/internal`,
      `${base}/hooks/%2E%2E/internal`,
      `${base}/hooks%2f..%2fadmin`,
      `${base}/hooks%5c..%5cadmin`,
      `${base}/hooksx`,
      `http://localhost@127.0.0.1:${hook.port}/hooks/x`,
      `http://localhost:${hook.port}/hooks/x`,
      `${base}/admin`,
    ];
    await queueReplies(stack, [...forbidden, `${base}/hooks/ok`]);
    const reasons = await settled(stack, forbidden.length);
    expect(forbidden.map((url) => [url, reasons.get(url)])).toEqual(
      forbidden.map((url) => [url, NOT_ALLOWED]),
    );
    await expect.poll(() => hook.hits.length, { timeout: 10_000 }).toBe(1);
    expect(hook.hits).toEqual([
      { path: '/hooks/ok', host: `127.0.0.1:${hook.port}`, body: `m${forbidden.length + 1}` },
    ]);
    await hook.close();
  });

  it.runIf(machineIsLoopback)(
    'a host name that resolves to loopback is refused after resolution; localhost named as such is delivered',
    async () => {
      const hook = await hookServer();
      const byName = `http://${machine as string}:${hook.port}/hook`;
      const byLocalhost = `http://localhost:${hook.port}/hook`;
      const stack = await startStack(
        fx,
        'ssrf-resolve',
        { REDISPATCH_HTTP_ALLOW: `${byName},${byLocalhost}` },
        { worker: false },
      );
      await queueReplies(stack, [byName, byLocalhost]);
      const reasons = await settled(stack, 1);
      expect(reasons.get(byName)).toBe(NOT_ALLOWED);
      await expect.poll(() => hook.hits.length, { timeout: 10_000 }).toBe(1);
      expect(hook.hits[0]?.host).toBe(`localhost:${hook.port}`);
      await hook.close();
    },
  );

  it('dead-letter reasons carry no network detail; a 50 MB answer is cut off and the reply still counts as delivered', async () => {
    const hook = await hookServer();
    const closed = `http://127.0.0.1:${await freePort()}/hook`;
    const silent = `http://127.0.0.1:${hook.port}/silent`;
    const big = `http://127.0.0.1:${hook.port}/big`;
    const stack = await startStack(
      fx,
      'ssrf-oracle',
      {
        REDISPATCH_HTTP_ALLOW: `${closed},${silent},${big}`,
        REDISPATCH_HTTP_MAX_ATTEMPTS: '2',
        REDISPATCH_HTTP_BACKOFF_BASE_MS: '10',
        REDISPATCH_HTTP_TIMEOUT_MS: '500',
      },
      { worker: false },
    );
    await queueReplies(stack, [closed, silent, big]);
    const reasons = await settled(stack, 2);
    expect(reasons.get(closed)).toBe('http: unreachable');
    expect(reasons.get(silent)).toBe('http: timeout');
    for (const reason of reasons.values()) expect(reason).not.toMatch(/ECONN|[0-9]{2,}|127\.0|Error/);
    // The relay's own log keeps the precise error, with the message id.
    await stack.relay.waitForLog(/"id":"1".*ECONNREFUSED/);
    // The big answer: delivered (not dead-lettered above), and the relay stopped reading long before the end.
    await expect.poll(() => hook.big.closed, { timeout: 10_000 }).toBe(true);
    expect(hook.big.finished).toBe(false);
    expect(hook.hits.filter((hit) => hit.path === '/big')).toHaveLength(1);
    await hook.close();
  });
});
