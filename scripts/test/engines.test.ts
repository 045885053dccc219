import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` warns EBADENGINE for every installed package whose `engines.node` excludes the running
 * Node; the lockfile records each package's `engines`, so the check needs no network. We support
 * Node 20: what ships (non-dev packages) must accept any Node 20, the test tooling (vite) 20.19+.
 */
const RUNTIME_FLOOR = '20.0.0';
const DEVELOPMENT_FLOOR = '20.19.0';

interface LockedPackage {
  dev?: boolean;
  engines?: { node?: string } | string[];
}

const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockedPackage>;
};

function excluding(version: string, onlyRuntime: boolean): string[] {
  return Object.entries(lock.packages).flatMap(([path, entry]) => {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!range || (onlyRuntime && entry.dev)) return [];
    return semver.satisfies(version, range)
      ? []
      : [`${path.replace(/^.*node_modules\//, '')} wants node ${range}`];
  });
}

describe('package engines (no EBADENGINE on Node 20)', () => {
  it('every runtime dependency accepts Node 20.0', () => {
    expect(excluding(RUNTIME_FLOOR, true)).toEqual([]);
  });

  it('every dependency, test tooling included, accepts Node 20.19', () => {
    expect(excluding(DEVELOPMENT_FLOOR, false)).toEqual([]);
  });

  it('the check sees a package that wants a newer Node', () => {
    expect(semver.satisfies(DEVELOPMENT_FLOOR, '>=22')).toBe(false);
    expect(
      Object.values(lock.packages).filter((entry) => !Array.isArray(entry.engines) && entry.engines?.node)
        .length,
    ).toBeGreaterThan(50);
  });
});
