// Build the static demo site: the page (src/), LiteRT.js and its WebAssembly files from node_modules, and
// one .tflite model, all in one folder that any static file server can serve. Nothing is fetched from a
// CDN at run time.
//
//   node build.mjs --model path/to/model.tflite --out dist [--name "DeblurGAN mobile"] [--range 0,1]
//
// --range is the value range of the model's float input/output: 0,1 for files written by
// `deblur-tf export` (their graph maps to the generator's [-1, 1] itself), -1,1 for a bare generator.
//
// Run `npm ci` here first. `deblur-tf demo` calls this script.

import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    out: { type: 'string', default: join(here, 'dist') },
    name: { type: 'string' },
    range: { type: 'string', default: '0,1' },
  },
});

function die(message) {
  console.error(`error: ${message}`);
  process.exit(2);
}

if (!values.model) die('--model PATH.tflite is required');
const model = resolve(values.model);
if (!existsSync(model) || !statSync(model).isFile()) die(`--model ${values.model}: no such file`);
if (!model.endsWith('.tflite')) die(`--model ${values.model}: expected a .tflite file`);

const range = values.range.split(',').map(Number);
if (range.length !== 2 || range.some(Number.isNaN) || !(range[1] > range[0])) die(`--range ${values.range}: expected LO,HI such as 0,1 or -1,1`);

const core = join(here, 'node_modules', '@litertjs', 'core');
const utils = join(here, 'node_modules', '@litertjs', 'wasm-utils');
if (!existsSync(core) || !existsSync(utils)) die(`LiteRT.js is not installed: run \`npm ci\` in ${here}`);

const out = resolve(values.out);
// the output folder is ours: clear it, but never a folder that holds something else than a built site
if (existsSync(out)) {
  const entries = readdirSync(out);
  if (entries.length && !entries.includes('model.json')) die(`--out ${values.out} exists and is not a demo build; pick an empty folder`);
  rmSync(out, { recursive: true, force: true });
}
mkdirSync(join(out, 'vendor'), { recursive: true });
mkdirSync(join(out, 'wasm'), { recursive: true });

for (const f of readdirSync(join(here, 'src'))) cpSync(join(here, 'src', f), join(out, f));
cpSync(join(core, 'dist', 'index.js'), join(out, 'vendor', 'litertjs-core.js'));
cpSync(join(utils, 'dist', 'index.js'), join(out, 'vendor', 'litertjs-wasm-utils.js'));
// loadLiteRt('./wasm/') picks litert_wasm_internal (relaxed SIMD) or litert_wasm_compat; the threaded and
// JSPI builds need cross-origin isolation / flags that a plain static server does not give, so leave them out
for (const stem of ['litert_wasm_internal', 'litert_wasm_compat_internal']) {
  for (const ext of ['.js', '.wasm']) cpSync(join(core, 'wasm', stem + ext), join(out, 'wasm', stem + ext));
}
cpSync(model, join(out, 'model.tflite'));
const config = { file: 'model.tflite', name: values.name ?? basename(model, '.tflite'), source: basename(model), range };
writeFileSync(join(out, 'model.json'), JSON.stringify(config, null, 2) + '\n');
console.log(`built ${out} (model ${basename(model)})`);
