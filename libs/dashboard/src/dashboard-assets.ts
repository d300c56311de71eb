import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The page's files, next to this file in the source tree and (copied by `nest build`, see `nest-cli.json`
 * assets) in `dist`. Jest runs the sources as ES modules, which have no `__dirname`; it runs from the repository root.
 */
const PUBLIC_DIR =
  typeof __dirname === 'string' ? join(__dirname, 'public') : join(process.cwd(), 'libs/dashboard/src/public');

/** Resolves packages the way this file's own imports do (Chart.js is a dependency, served from here). */
const resolve = createRequire(
  typeof __filename === 'string' ? __filename : join(process.cwd(), 'package.json'),
).resolve;

export interface Asset {
  type: string;
  body: Buffer;
}

/** Everything the page loads, read once at start: the page works offline (no CDN). */
export function loadAssets(): Map<string, Asset> {
  const chartJs = join(dirname(resolve('chart.js')), 'chart.umd.min.js');
  return new Map<string, Asset>([
    ['index.html', { type: 'text/html; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'index.html')) }],
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'dashboard.js')) }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'dashboard.css')) }],
    ['chart.umd.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(chartJs) }],
  ]);
}
