import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { configTable } from '../../scripts/config-table.mjs';

const root = new URL('../../', import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, root), 'utf8');
const readme = read('README.md');
const docPages = readdirSync(new URL('docs/', root)).filter((file) => file.endsWith('.md'));

/** Relative link targets (without their #anchor) in a markdown file, outside code blocks. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  return [...prose.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
    .map((match) => match[1] ?? '')
    .filter((target) => !/^[a-z]+:/.test(target));
}

describe('README and docs/', () => {
  it('docs/configuration.md shows the table generated from the settings table (node scripts/config-table.mjs)', () => {
    const page = read('docs/configuration.md');
    const start = page.indexOf('<!-- config-table:start -->');
    const end = page.indexOf('<!-- config-table:end -->');
    expect(start).toBeGreaterThan(0);
    expect(page.slice(start, end).trim().split('\n').slice(1).join('\n')).toBe(
      (configTable as () => string)(),
    );
  });

  it('shows the two commands', () => {
    expect(readme).toContain('npx redispatch up');
    expect(readme).toContain('npm test');
  });

  it('keeps the README a front door: short, with the reference material in docs/', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    expect(readme).not.toContain('config-table:start');
  });

  it('indexes every docs page in docs/README.md and links every one from the README', () => {
    const index = read('docs/README.md');
    for (const page of docPages.filter((file) => file !== 'README.md')) {
      expect(index, `docs/README.md lists ${page}`).toContain(`](${page})`);
      expect(readme, `README links docs/${page}`).toContain(`](docs/${page})`);
    }
  });

  it('has no broken relative link in the README or a docs page', () => {
    const files = ['README.md', ...docPages.map((page) => `docs/${page}`)];
    const broken = files.flatMap((file) =>
      relativeLinks(read(file))
        .filter((target) => !existsSync(new URL(target, new URL(file, root))))
        .map((target) => `${file} → ${target}`),
    );
    expect(broken).toEqual([]);
  });

  // A merge once landed README.md with its conflict markers in it; nothing else would have noticed.
  it('has no merge-conflict markers in any tracked text file', () => {
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((file) => /\.(md|ts|mts|mjs|js|json|lua|ya?ml|sh|conf|env)$|^\.ci\/run$/.test(file));
    expect(files.length).toBeGreaterThan(50);
    const marked = files.filter((file) => /^(<{7}|>{7}) /m.test(read(file)));
    expect(marked).toEqual([]);
  });
});
