// Bundles the studio page (web/, preact + uPlot) with esbuild into dist/studio-web: app.js, app.css, index.html,
// so a fresh clone serves it after `npm install` with nothing fetched at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const out = 'dist/studio-web';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'web/main.tsx' },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  logLevel: 'warning',
  legalComments: 'none',
});
copyFileSync('web/index.html', `${out}/index.html`);
