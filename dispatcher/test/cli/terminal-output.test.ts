import { createKeys, encodeOutboundEntry } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { terminalSafe } from '../../src/cli/terminal-text.js';
import { runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// Issue 22 item 6: strings read back from Redis may carry terminal escape sequences; every
// human-readable output escapes control characters (JSON output is escaped by JSON itself).
const fx = useProcessFixture();

const ESC = '\u001b';
const HOSTILE_ID = `m1${ESC}]0;owned\u0007${ESC}[2J\u202e`;

describe('human-readable output escapes control characters', () => {
  it('terminalSafe keeps newlines and tabs, escapes C0, DEL, C1 and bidi overrides', () => {
    expect(terminalSafe(`a\tb\nc${ESC}[31m\r\u007f\u009b\u202e`)).toBe(
      'a\tb\nc\\x1b[31m\\x0d\\x7f\\x9b\\u202e',
    );
  });

  it('outbound-dlq list and show print an escape sequence in a message id or address as text', async () => {
    const prefix = uniquePrefix('escape');
    const keys = createKeys(prefix);
    const env = testEnv(fx.redis.url, prefix);
    const [seconds] = await fx.admin.time();
    const at = Number(seconds) * 1000;
    const reason = 'unknown_session';
    await fx.admin.lpush(
      keys.outboundDead,
      Buffer.concat([
        Buffer.from(`${at}:${reason.length}:${reason}`),
        encodeOutboundEntry(
          { messageId: HOSTILE_ID, replyTo: `ws:r1:${ESC}[1A`, payload: Buffer.from('ok'), text: false },
          at - 5,
        ),
      ]),
    );
    const list = await runCli(['outbound-dlq', 'list'], env);
    expect(list.code, list.output).toBe(0);
    expect(list.output).not.toContain(ESC);
    expect(list.output).not.toContain('\u0007');
    expect(list.output).not.toContain('\u202e');
    expect(list.output).toContain('m1\\x1b]0;owned\\x07\\x1b[2J\\u202e');

    const show = await runCli(['outbound-dlq', 'show', HOSTILE_ID], env);
    expect(show.code, show.output).toBe(0);
    expect(show.output).not.toContain(ESC);
    expect(show.output).toContain('\\x1b[1A');

    // --json stays machine-readable: JSON escapes the same characters itself.
    const json = await runCli(['outbound-dlq', 'list', '--json'], env);
    expect(json.output).not.toContain(ESC);
    expect(JSON.parse(json.lines[0] ?? '{}').messageId).toBe(HOSTILE_ID);
  }, 30_000);
});
