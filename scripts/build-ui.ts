/**
 * Builds the web UI (web/) with esbuild into dist/src/agent/ui/assets/, inside the package's
 * published files: `app-<hash>.js` and `app-<hash>.css` (uPlot bundled in, no CDN), `index.html`
 * pointing at them, and `manifest.json` listing what the agent may serve. Run by `npm run build`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/src/agent/ui/assets`;

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints: { app: `${root}web/main.ts` },
  bundle: true,
  format: 'esm',
  target: ['chrome120', 'firefox120'],
  minify: true,
  sourcemap: false,
  entryNames: '[name]-[hash]',
  outdir,
  metafile: true,
  logLevel: 'warning',
  legalComments: 'eof',
});
const files = Object.keys(result.metafile.outputs).map((file) => basename(file));
const script = files.find((file) => file.endsWith('.js'));
const style = files.find((file) => file.endsWith('.css'));
if (!script || !style) throw new Error(`the UI build wrote no script or style: ${files.join(', ')}`);
const html = readFileSync(`${root}web/index.html`, 'utf8')
  .replace('%SCRIPT%', script)
  .replace('%STYLE%', style);
writeFileSync(`${outdir}/index.html`, html);
const served = [...files, 'index.html'];
writeFileSync(`${outdir}/manifest.json`, `${JSON.stringify({ files: served }, null, 2)}\n`);
