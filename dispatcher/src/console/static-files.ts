import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's own files, shipped beside dist/ in the package. */
const PAGE_DIR = fileURLToPath(new URL('../../console-page/', import.meta.url));
const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
/** htm exports no package.json: its main entry lives in dist/. */
const htmDist = dirname(require.resolve('htm'));

interface StaticFile {
  type: string;
  body: Buffer;
}

const JS = 'text/javascript; charset=utf-8';

/** Every file the console serves, read once at start: a fixed table, so no path reaches the disk. */
function load(): Map<string, StaticFile> {
  const files: [string, string, string][] = [
    ['/', join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
    ['/app.js', join(PAGE_DIR, 'app.js'), JS],
    ['/views.js', join(PAGE_DIR, 'views.js'), JS],
    ['/cluster-panels.js', join(PAGE_DIR, 'cluster-panels.js'), JS],
    ['/dlq-panel.js', join(PAGE_DIR, 'dlq-panel.js'), JS],
    ['/lookup-panels.js', join(PAGE_DIR, 'lookup-panels.js'), JS],
    ['/style.css', join(PAGE_DIR, 'style.css'), 'text/css; charset=utf-8'],
    ['/vendor/preact.mjs', join(packageDir('preact'), 'dist/preact.mjs'), JS],
    ['/vendor/hooks.mjs', join(packageDir('preact'), 'hooks/dist/hooks.mjs'), JS],
    ['/vendor/htm.mjs', join(htmDist, 'htm.mjs'), JS],
    ['/vendor/uPlot.esm.js', join(packageDir('uplot'), 'dist/uPlot.esm.js'), JS],
    ['/vendor/uPlot.min.css', join(packageDir('uplot'), 'dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([path, file, type]) => [path, { type, body: readFileSync(file) }]));
}

export interface StaticSite {
  files: Map<string, StaticFile>;
  /** The Content-Security-Policy of the page: its scripts only, the import map by its hash. */
  csp: string;
}

export function loadStaticSite(): StaticSite {
  const files = load();
  const html = files.get('/')?.body.toString('utf8') ?? '';
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  const hash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    // uPlot and the views set element styles from script.
    "style-src 'self' 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { files, csp };
}
