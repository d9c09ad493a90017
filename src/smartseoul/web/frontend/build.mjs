// Build the operations map into ../static (committed, so `pip install` needs no Node).
// Run with `npm run build` here, or scripts/build-web from the repository root.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'static');
const tests = join(here, '..', '..', '..', '..', 'tests', 'web', 'vendor');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  outfile: join(out, 'app.js'),
  legalComments: 'linked',
  logLevel: 'info',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
// MapLibre runs its tile work in a module worker of its own, found next to app.js.
copyFileSync(join(here, 'node_modules', 'maplibre-gl', 'dist', 'maplibre-gl-worker.mjs'),
  join(out, 'maplibre-gl-worker.mjs'));
// axe-core for the accessibility test (injected into the page by tests/web only).
mkdirSync(tests, { recursive: true });
copyFileSync(join(here, 'node_modules', 'axe-core', 'axe.min.js'), join(tests, 'axe.min.js'));
