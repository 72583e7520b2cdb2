// The demo page: load LiteRT.js and the exported .tflite, deblur a picked/dropped photo tile by tile, and
// show before/after with a slider and the time taken.
//
// Runtime choice: WebGPU when the browser gives us a GPU device and the model compiles for it, otherwise
// WebAssembly with XNNPACK (CPU). `?accelerator=wasm|webgpu` forces one, which is how a person compares
// the two. The page exposes its state on <body data-state> and `window.demo` for the browser test.

import { Tensor, getWebGpuDevice, loadAndCompile, loadLiteRt } from '@litertjs/core';
import { deblurTiled, planTiles, defaultOverlap } from './tiling.js';

const $ = (id) => document.getElementById(id);
const ui = {
  info: $('model-info'), status: $('status'), progress: $('progress'), file: $('file'), drop: $('drop'),
  compare: $('compare'), before: $('before'), after: $('after'), slider: $('slider'), divider: $('divider'),
  time: $('time'), download: $('download'),
};
const MAX_SIDE = 4096;  // longer side of the photos we deblur; larger ones are shrunk first
const RUNTIME_NAMES = { wasm: 'WebAssembly + XNNPACK (CPU)', webgpu: 'WebGPU' };

const demo = { state: 'loading', model: null, accelerator: null, tile: null, result: null, error: null, bytes: null };
window.demo = demo;

function setState(state, message) {
  demo.state = state;
  document.body.dataset.state = state;
  if (message !== undefined) ui.status.textContent = message;
}

function fail(message, err) {
  demo.error = message + (err ? `: ${err.message ?? err}` : '');
  console.error(demo.error, err);
  setState('error', demo.error);
}

async function compile(modelBytes) {
  const wanted = new URLSearchParams(location.search).get('accelerator') ?? 'auto';
  if (!['auto', 'wasm', 'webgpu'].includes(wanted)) throw new Error(`unknown accelerator "${wanted}" (use wasm or webgpu)`);
  const gpu = getWebGpuDevice() !== null;  // loadLiteRt already asked the browser for a WebGPU device
  if (wanted === 'webgpu' && !gpu) throw new Error('WebGPU was asked for but this browser gave no GPU device');
  const order = wanted === 'auto' ? (gpu ? ['webgpu', 'wasm'] : ['wasm']) : [wanted];
  let lastError;
  for (const accelerator of order) {
    try {
      // loadAndCompile may keep a reference to the bytes: give each attempt its own copy
      const model = await loadAndCompile(modelBytes.slice(), { accelerator });
      return { model, accelerator, partial: accelerator === 'webgpu' && !model.isFullyAccelerated };
    } catch (err) {
      console.warn(`compiling for ${accelerator} failed, trying the next runtime`, err);
      lastError = err;
    }
  }
  throw lastError;
}

async function init() {
  let config;
  try {
    const res = await fetch('model.json');
    if (!res.ok) throw new Error(`model.json: HTTP ${res.status}`);
    config = await res.json();
  } catch (err) {
    return fail('No model description (model.json) next to this page: build the page with `deblur-tf demo`', err);
  }
  try {
    await loadLiteRt('./wasm/');
  } catch (err) {
    return fail('LiteRT.js could not load its WebAssembly files from ./wasm/', err);
  }
  setState('loading', `Loading ${config.file}…`);
  let bytes;
  try {
    const res = await fetch(config.file);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    return fail(`Could not download the model ${config.file}`, err);
  }
  try {
    const { model, accelerator, partial } = await compile(bytes);
    const inputs = model.getInputDetails();
    if (inputs.length !== 1) throw new Error(`expected one input tensor, the model has ${inputs.length}`);
    const shape = Array.from(inputs[0].shape);
    if (shape.length !== 4 || shape[0] !== 1 || shape[3] !== 3 || inputs[0].dtype !== 'float32') {
      throw new Error(`expected a float32 input of shape [1, H, W, 3], the model has ${inputs[0].dtype} [${shape}]` +
        ' (the demo runs the fp32 and fp16 exports; full-integer int8 files take uint8 pixels)');
    }
    if (shape[1] < 8 || shape[2] < 8) {
      throw new Error(`the model's input size is ${shape[1]}x${shape[2]}: export it at a fixed size (deblur-tf export --input-size 256x256)`);
    }
    Object.assign(demo, { model, accelerator, tile: [shape[1], shape[2]], config, bytes });
    const runtime = RUNTIME_NAMES[accelerator] + (partial ? ' (some ops on CPU)' : '');
    ui.info.textContent = `Model: ${config.name ?? config.file} · ${shape[1]}×${shape[2]} tiles · ${runtime}`;
    setState('ready', 'Ready: pick or drop a blurry photo.');
  } catch (err) {
    return fail(`Could not prepare the model ${config.file}`, err);
  }
}

async function runTile(data) {
  const [th, tw] = demo.tile;
  const input = new Tensor(data, [1, th, tw, 3]);
  let outputs;
  try {
    outputs = await demo.model.run(input);
  } finally {
    input.delete();
  }
  const out = outputs[0];
  for (const extra of outputs.slice(1)) extra.delete();
  const host = out.accelerator === 'wasm' ? out : await out.moveTo('wasm');
  const values = host.toTypedArray().slice();  // copy out of the WASM heap before freeing the tensor
  if (!host.deleted) host.delete();
  if (!out.deleted) out.delete();
  return values;
}

async function decode(file) {
  // no colour-space conversion: the model (and the Python reference) see the file's own pixel values
  const options = { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' };
  let bitmap = await createImageBitmap(file, options);
  const longSide = Math.max(bitmap.width, bitmap.height);
  if (longSide > MAX_SIDE) {
    // a 24 MP photo would be ~400 tiles and gigabytes of buffers: shrink it, and say so
    const scale = MAX_SIDE / longSide;
    const resized = await createImageBitmap(bitmap, {
      ...options, resizeWidth: Math.round(bitmap.width * scale), resizeHeight: Math.round(bitmap.height * scale),
      resizeQuality: 'high',
    });
    demo.resizedFrom = [bitmap.width, bitmap.height];
    bitmap.close();
    bitmap = resized;
  } else {
    demo.resizedFrom = null;
  }
  const { width, height } = bitmap;
  ui.before.width = width;
  ui.before.height = height;
  const ctx = ui.before.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height);
}

async function deblurFile(file) {
  if (!demo.model) return;
  if (demo.state === 'running') return;
  if (!file.type.startsWith('image/') && !/\.(png|jpe?g|webp|bmp|gif|avif)$/i.test(file.name)) {
    return fail(`${file.name} is not an image: pick a PNG, JPEG or WebP photo`);
  }
  setState('running', `Decoding ${file.name}…`);
  let image;
  try {
    image = await decode(file);
  } catch (err) {
    return fail(`Could not decode ${file.name}`, err);
  }
  const [th, tw] = demo.tile;
  const { overlap, margin } = defaultOverlap(th, tw);
  const plan = planTiles(image.height, image.width, th, tw, overlap, margin);
  ui.progress.hidden = false;
  ui.progress.value = 0;
  setState('running', `Deblurring ${image.width}×${image.height} in ${plan.count} tiles…`);
  const runAll = () => deblurTiled(image, th, tw, runTile, {
    overlap, margin, range: demo.config.range ?? [0, 1],
    onProgress: async (done, total) => {
      ui.progress.value = done / total;
      ui.status.textContent = `Deblurring ${image.width}×${image.height}: tile ${done} of ${total}…`;
      await new Promise((r) => setTimeout(r, 0));  // let the page repaint between tiles
    },
  });
  let t0 = performance.now();
  let rgba;
  try {
    ({ rgba } = await runAll());
  } catch (err) {
    if (demo.accelerator !== 'webgpu') {
      ui.progress.hidden = true;
      return fail('The model failed on this image', err);
    }
    // a model can compile for WebGPU and still fail to run there: fall back to the CPU once
    console.warn('running on WebGPU failed, falling back to WebAssembly', err);
    try {
      demo.model.delete();
      demo.model = await loadAndCompile(demo.bytes.slice(), { accelerator: 'wasm' });
      demo.accelerator = 'wasm';
      ui.info.textContent = `Model: ${demo.config.name ?? demo.config.file} · ${th}×${tw} tiles · ${RUNTIME_NAMES.wasm} (WebGPU failed)`;
      t0 = performance.now();
      ({ rgba } = await runAll());
    } catch (err2) {
      ui.progress.hidden = true;
      return fail('The model failed on this image', err2);
    }
  }
  const ms = performance.now() - t0;
  ui.after.width = image.width;
  ui.after.height = image.height;
  ui.after.getContext('2d').putImageData(new ImageData(rgba, image.width, image.height), 0, 0);
  ui.progress.hidden = true;
  ui.compare.hidden = false;
  const seconds = (ms / 1000).toFixed(ms < 10000 ? 2 : 1);
  const shrunk = demo.resizedFrom ? ` (shrunk from ${demo.resizedFrom[0]}×${demo.resizedFrom[1]})` : '';
  ui.time.textContent = `${image.width}×${image.height}${shrunk} deblurred in ${seconds} s (${plan.count} tiles, ${RUNTIME_NAMES[demo.accelerator]})`;
  ui.after.toBlob((blob) => {
    if (ui.download.href.startsWith('blob:')) URL.revokeObjectURL(ui.download.href);
    ui.download.href = URL.createObjectURL(blob);
    ui.download.download = file.name.replace(/\.[^.]+$/, '') + '_deblurred.png';
  }, 'image/png');
  demo.result = { ms, tiles: plan.count, width: image.width, height: image.height, accelerator: demo.accelerator, file: file.name };
  setState('done', `Done. Drag the slider to compare; pick another photo to run again.`);
}

function setSlider(percent) {
  ui.before.style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  ui.divider.style.left = `${percent}%`;
}

ui.slider.addEventListener('input', () => setSlider(Number(ui.slider.value)));
ui.file.addEventListener('change', () => { if (ui.file.files[0]) deblurFile(ui.file.files[0]); });
for (const type of ['dragenter', 'dragover']) {
  window.addEventListener(type, (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
}
window.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
window.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const file = e.dataTransfer?.files?.[0];
  if (file) deblurFile(file);
});
setSlider(Number(ui.slider.value));
init();
