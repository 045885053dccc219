import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliProcess } from '../helpers/cli-process.js';

/** Direct children of `pid` (what `ps --ppid` lists), empty when it has none. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** `pid` and everything below it, as it is now. */
export function processTree(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap(processTree)];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until `up` has started everything (its keeper and embedded redis-server, then `expected`
 * role processes) and returns every pid below it.
 */
export async function upTree(up: CliProcess, expected: number): Promise<number[]> {
  await up.waitForLog(/logs in \S+/, 30_000);
  let tree: number[] = [];
  await expect
    .poll(
      () => {
        tree = processTree(up.pid).slice(1);
        // The children, the keeper, and its redis-server.
        return tree.length;
      },
      { timeout: 10_000 },
    )
    .toBeGreaterThanOrEqual(expected + 2);
  return tree;
}

/** The embedded Redis `up` printed. */
export function embeddedRedisUrl(up: CliProcess): string {
  const match = /started an embedded Redis at (redis:\/\/\S+)/.exec(up.output());
  if (!match?.[1]) throw new Error(`up printed no embedded Redis:\n${up.output()}`);
  return match[1];
}

/** Every child's log, by file name, from the directory `up` printed. */
export function upLogs(up: CliProcess): Record<string, string> {
  const dir = /logs in (\S+?);/.exec(up.output())?.[1];
  if (!dir) throw new Error(`up printed no log directory:\n${up.output()}`);
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}
