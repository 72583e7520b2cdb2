// Unit tests of src/tiling.js (node --test): tile layout and blending invariants for awkward sizes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deblurTiled, planTiles, reflectIndex, tileStarts } from '../src/tiling.js';

function randomImage(width, height, seed = 1) {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    data[i] = i % 4 === 3 ? 255 : s % 256;
  }
  return { width, height, data };
}

test('reflectIndex mirrors without repeating the edge (numpy "reflect")', () => {
  assert.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => reflectIndex(i, 4)), [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
  assert.deepEqual([-2, 0, 5].map((i) => reflectIndex(i, 1)), [0, 0, 0]);
});

test('tileStarts covers the axis with the requested overlap and ends flush', () => {
  for (const [length, tile, overlap] of [[256, 256, 32], [257, 256, 32], [1000, 256, 32], [480, 256, 32], [100, 256, 32]]) {
    const starts = tileStarts(length, tile, overlap);
    assert.equal(starts[0], 0);
    if (length <= tile) { assert.deepEqual(starts, [0]); continue; }
    assert.equal(starts.at(-1) + tile, length, `last tile ends at the edge for length ${length}`);
    for (let i = 1; i < starts.length; i++) {
      assert.ok(starts[i - 1] + tile - starts[i] >= overlap, `tiles ${i - 1},${i} overlap by >= ${overlap}`);
    }
  }
});

test('with an identity model, tiling and blending give the input back exactly', async () => {
  for (const [w, h] of [[1, 1], [7, 300], [224, 224], [300, 257], [513, 129]]) {
    const image = randomImage(w, h, w * 31 + h);
    const plan = planTiles(h, w, 64, 64, 8, 4);
    let calls = 0;
    const { rgba } = await deblurTiled(image, 64, 64, async (tile) => { calls++; return tile.slice(); },
      { overlap: 8, margin: 4, range: [-1, 1] });
    assert.equal(calls, plan.count);
    assert.deepEqual(Array.from(rgba), Array.from(image.data), `${w}x${h}`);
  }
});

test('each output pixel is a weighted mean of its tiles (a constant model gives that constant)', async () => {
  const image = randomImage(200, 150);
  let k = 0;
  // every tile returns a different constant in [0, 1]; the blend must stay inside their range
  const { rgba } = await deblurTiled(image, 64, 64, async (tile) => new Float32Array(tile.length).fill((k++ % 5) / 4),
    { overlap: 16, margin: 8 });
  for (let i = 0; i < rgba.length; i += 4) assert.ok(rgba[i] >= 0 && rgba[i] <= 255 && rgba[i + 3] === 255);
  const { rgba: flat } = await deblurTiled(image, 64, 64, async (tile) => new Float32Array(tile.length).fill(0.5),
    { overlap: 16, margin: 8 });
  assert.ok(flat.every((v, i) => (i % 4 === 3 ? v === 255 : v === 128)));
});
