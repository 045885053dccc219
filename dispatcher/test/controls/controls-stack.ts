import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { CliProcess } from '../helpers/cli-process.js';
import { type TestEnv, testEnv, uniquePrefix } from '../helpers/in-process.js';
import type { ProcessFixture } from '../helpers/process-fixture.js';

export const CONTROLS_HANDLER = fileURLToPath(new URL('../fixtures/controls-handler.mjs', import.meta.url));

export const MODES = ['lists', 'streams'] as const;
export type Mode = (typeof MODES)[number];

/** One line the controls handler logged (see fixtures/controls-handler.mjs). */
export interface HandlerEvent {
  event: string;
  body: string;
  id: string;
  attempt: number;
  pid: number;
  at: number;
  extended?: boolean;
  reason?: string;
}

/** A dispatcher and workers as real `redispatch` processes on the fixture's Redis, in one mode. */
export interface ControlsStack {
  env: TestEnv;
  workers: CliProcess[];
  publish(body: string): Promise<void>;
  events(): HandlerEvent[];
  eventsFor(body: string): HandlerEvent[];
}

/**
 * Starts one dispatcher and `workers` workers running the controls handler, all with `extra` settings
 * over the fast test timings (2 s ack timeout), and waits until the leader leads and the workers run.
 */
export async function startControlsStack(
  fixture: ProcessFixture,
  mode: Mode,
  extra: Record<string, string> = {},
  workers = 1,
): Promise<ControlsStack> {
  const logFile = join(fixture.tempDir('controls'), 'events.jsonl');
  const env = testEnv(fixture.redis.url, uniquePrefix(`controls-${mode}`), {
    REDISPATCH_MODE: mode,
    REDISPATCH_PARTITIONS: '2',
    // A worker frozen for a few seconds stays registered: its claims expire by the ack timeout.
    REDISPATCH_WORKER_TTL_MS: '10000',
    CONTROLS_LOG: logFile,
    ...extra,
  });
  const dispatcher = fixture.spawn(['dispatcher'], env);
  await dispatcher.waitForLog(/elected leader/, 30_000);
  const started: CliProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const worker = fixture.spawn(
      ['worker', '--handler', CONTROLS_HANDLER, '--instance-id', `w${i + 1}-${env.REDISPATCH_PREFIX}`],
      env,
    );
    await worker.waitForLog(/worker registered/, 30_000);
    started.push(worker);
  }
  const events = (): HandlerEvent[] =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => JSON.parse(line) as HandlerEvent)
      : [];
  return {
    env,
    workers: started,
    publish: async (body) => {
      await fixture.admin.publish(env.REDISPATCH_CHANNEL, body);
    },
    events,
    eventsFor: (body) => events().filter((e) => e.body === body),
  };
}

/** Waits until the handler logged `event` for `body` (count times), and returns those events. */
export async function waitForEvent(
  stack: ControlsStack,
  body: string,
  event: string,
  count = 1,
  timeout = 20_000,
): Promise<HandlerEvent[]> {
  await expect
    .poll(() => stack.eventsFor(body).filter((e) => e.event === event).length, { timeout })
    .toBeGreaterThanOrEqual(count);
  return stack.eventsFor(body).filter((e) => e.event === event);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
