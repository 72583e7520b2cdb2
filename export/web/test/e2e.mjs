// End-to-end browser test of the demo: `deblur-tf demo` serves the page on localhost, headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core) loads it, a blurred photo goes in through the file
// picker, and the output canvas must match LiteRT Python's output for the same model and input
// (reference.py, same tiling) with PSNR > 40 dB. A screenshot is saved for people to look at.
//
//   node test/e2e.mjs --fixture DIR --artifacts DIR [--accelerator auto|wasm|webgpu] [--gpu none|swiftshader]
//                     [--repeat N] [--name browser_demo]
//
// DIR (from reference.py) holds reference.json (naming the .tflite), input.png, input.rgb, reference.rgb, reference.json.
// Env: DEBLUR_TF (the CLI, default `deblur-tf`), CHROMIUM (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values } = parseArgs({
  options: {
    fixture: { type: 'string' },
    artifacts: { type: 'string', default: 'test-artifacts' },
    threshold: { type: 'string', default: '40' },
    accelerator: { type: 'string', default: 'auto' },
    repeat: { type: 'string', default: '1' },
    // 'swiftshader': give the page a software WebGPU adapter (Chromium's SwiftShader) instead of --disable-gpu,
    // so the WebGPU path of LiteRT.js runs on a machine without a GPU
    gpu: { type: 'string', default: 'none' },
    // names the screenshot/JSON/console files in --artifacts and the closing "NAME: N passed, N failed" line
    name: { type: 'string', default: 'browser_demo' },
    'expect-accelerator': { type: 'string' },
  },
});
if (!values.fixture) {
  console.error('usage: node test/e2e.mjs --fixture DIR [--artifacts DIR]');
  process.exit(2);
}
const fixture = resolve(values.fixture);
const artifacts = resolve(values.artifacts);
const threshold = Number(values.threshold);
mkdirSync(artifacts, { recursive: true });
const meta = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8'));
const reference = readFileSync(join(fixture, 'reference.rgb'));
const inputRgb = readFileSync(join(fixture, 'input.rgb'));
const { width, height } = meta;

/** PSNR (dB, peak 255) between an RGBA buffer's RGB and a packed RGB buffer. */
function psnrRgbaVsRgb(rgba, rgb) {
  let se = 0;
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const d = rgba[p * 4 + c] - rgb[p * 3 + c];
      se += d * d;
    }
  }
  const mse = se / (width * height * 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

function startDemo() {
  // the real CLI builds the site and serves it: this tests `deblur-tf demo` too
  const cli = process.env.DEBLUR_TF ?? 'deblur-tf';
  const args = ['demo', '--tflite', resolve(fixture, meta.tflite), '--port', '0', '--out', join(fixture, 'site'),
    '--overwrite', '--range', (meta.range ?? [0, 1]).join(',')];
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`deblur-tf demo did not start in 120 s:\n${log}`)), 120000);
    const onData = (chunk) => {
      log += chunk;
      const m = /Serving the demo at (http:\/\/\S+)/.exec(log);
      if (m) { clearTimeout(timer); resolveUrl({ child, url: m[1] }); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`deblur-tf demo exited (${code}):\n${log}`)); });
  });
}

const results = [];
function check(name, ok, detail) {
  results.push({ name, ok, detail });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
}

let server;
let context;
const profile = mkdtempSync(join(tmpdir(), 'deblur-e2e-profile-'));
const consoleLines = [];
try {
  server = await startDemo();
  console.log(`demo served at ${server.url}`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1200, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(values.gpu === 'swiftshader'
        ? ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader']
        : ['--disable-gpu'])],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
  const url = values.accelerator === 'auto' ? server.url : `${server.url}?accelerator=${values.accelerator}`;
  await page.goto(url);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 120000 });
  const info = await page.evaluate(() => ({ state: window.demo.state, error: window.demo.error,
    accelerator: window.demo.accelerator, tile: window.demo.tile, text: document.getElementById('model-info').textContent }));
  check('page loads the model', info.state === 'ready', info.error ?? info.text);
  if (info.state !== 'ready') throw new Error(info.error);
  const expected = values['expect-accelerator'];
  if (expected) check(`runtime chosen: ${expected}`, info.accelerator === expected, `the page chose ${info.accelerator} (${url})`);

  await page.setInputFiles('#file', join(fixture, 'input.png'));
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 300000 });
  const run = await page.evaluate(() => {
    const pixels = (id) => {
      const c = document.getElementById(id);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let s = '';
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, b64: btoa(s) };
    };
    return { state: window.demo.state, error: window.demo.error, result: window.demo.result,
      time: document.getElementById('time').textContent, after: pixels('after'), before: pixels('before') };
  });
  if (run.state !== 'done') throw new Error(`the page failed: ${run.error}`);
  const after = Buffer.from(run.after.b64, 'base64');
  const before = Buffer.from(run.before.b64, 'base64');
  check('output size', run.after.width === width && run.after.height === height,
    `${run.after.width}x${run.after.height} (expected ${width}x${height})`);
  const psnrInput = psnrRgbaVsRgb(before, inputRgb);
  check('browser decodes the same input pixels', psnrInput > 60, `PSNR ${psnrInput.toFixed(2)} dB vs the PNG read by OpenCV`);
  const psnr = psnrRgbaVsRgb(after, reference);
  check(`output matches LiteRT Python (PSNR > ${threshold} dB)`, psnr > threshold,
    `PSNR ${psnr.toFixed(2)} dB over ${width}x${height}, ${run.result.tiles} tiles, ${run.result.accelerator}`);
  const changed = psnrRgbaVsRgb(after, inputRgb);
  // a page that showed its input instead of the model's output would be as close to the input as to the reference
  check('the output is the model\'s, not the input', changed < psnr - 10,
    `PSNR(output, input) ${changed.toFixed(2)} dB vs PSNR(output, LiteRT Python) ${psnr.toFixed(2)} dB`);

  // timing: run the same photo again and report the median (the first run includes WASM warm-up)
  const times = [run.result.ms];
  for (let i = 1; i < Number(values.repeat); i++) {
    await page.evaluate(() => { document.body.dataset.state = 'ready'; window.demo.state = 'ready'; });
    await page.setInputFiles('#file', []);
    await page.setInputFiles('#file', join(fixture, 'input.png'));
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 300000 });
    times.push(await page.evaluate(() => window.demo.result.ms));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const medianMs = sorted[Math.floor((sorted.length - 1) / 2)];
  console.log(`browser time per photo: median ${medianMs.toFixed(0)} ms over ${times.length} run(s) [${times.map((t) => t.toFixed(0)).join(', ')}]`);

  const shot = join(artifacts, `${values.name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  console.log(`page says: ${run.time}`);
  writeFileSync(join(artifacts, `${values.name}.json`), JSON.stringify({
    url, image: meta.image, width, height, psnr_vs_litert_python_db: psnr, psnr_threshold_db: threshold,
    psnr_output_vs_input_db: changed, browser_ms: run.result.ms, browser_ms_runs: times, browser_ms_median: medianMs, tiles: run.result.tiles,
    accelerator: run.result.accelerator, python_litert_seconds: meta.python_litert_seconds, chromium: context.browser()?.version(),
  }, null, 2) + '\n');
} catch (err) {
  check('browser run', false, err.stack ?? String(err));
} finally {
  const consoleLog = join(artifacts, `${values.name}_console.log`);
  if (consoleLines.length) writeFileSync(consoleLog, consoleLines.join('\n') + '\n');
  if (results.some((r) => !r.ok)) console.log(`browser console (${consoleLog}):\n${consoleLines.slice(-30).join('\n')}`);
  if (context) await context.close();
  if (server) server.child.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok).length;
console.log(`${values.name}: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
