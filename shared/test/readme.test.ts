import { execFileSync } from 'node:child_process';
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

  // A merge once landed README.md with its conflict markers in it; nothing else would have noticed.
  it('has no merge-conflict markers in any tracked text file', () => {
    const root = new URL('../../', import.meta.url);
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((file) => /\.(md|ts|mts|mjs|js|json|lua|ya?ml|sh|conf|env)$|^\.ci\/run$/.test(file));
    expect(files.length).toBeGreaterThan(50);
    const marked = files.filter((file) => /^(<{7}|>{7}) /m.test(readFileSync(new URL(file, root), 'utf8')));
    expect(marked).toEqual([]);
  });
});
