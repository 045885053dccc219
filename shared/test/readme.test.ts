import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { configTable } from '../../scripts/config-table.mjs';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('shows the configuration table generated from the settings table (node scripts/config-table.mjs)', () => {
    const start = readme.indexOf('<!-- config-table:start -->');
    const end = readme.indexOf('<!-- config-table:end -->');
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start, end).trim().split('\n').slice(1).join('\n')).toBe(
      (configTable as () => string)(),
    );
  });

  it('shows the two commands', () => {
    expect(readme).toContain('npx redispatch up');
    expect(readme).toContain('npm test');
  });
});
