// Overlapping tiles blended with linear ramps: the same arithmetic as
// maffsrn_tf.inference.tiled_predict and tflite/run_tflite.py, so the page's output matches
// the Python paths on the same model file.

/**
 * Tile start offsets along one axis: the fewest tiles of `tile` pixels that cover `length`
 * with at least `overlap` shared pixels, spread evenly (as `tile_layout` in Python).
 */
export function starts(length, tile, overlap) {
  if (length <= tile) return [0];
  const n = Math.ceil((length - overlap) / (tile - overlap));
  const out = [];
  for (let i = 0; i < n; i++) out.push(Math.floor((i * (length - tile)) / (n - 1)));
  return out;
}

/** Blend weights along one axis of a tile: ramps over the overlaps with its neighbours. */
export function ramp(nOut, left, right, scale) {
  const w = new Float32Array(nOut).fill(1);
  if (left) {
    const n = left * scale;
    for (let i = 0; i < n; i++) w[i] = (i + 0.5) / n;
  }
  if (right) {
    const n = right * scale;
    for (let i = 0; i < n; i++) w[nOut - n + i] = Math.min(w[nOut - n + i], (n - 1 - i + 0.5) / n);
  }
  return w;
}

/** Edge-pad an RGB float image (h x w x 3) to at least tile x tile. */
export function padToTile(rgb, h, w, tile) {
  const H = Math.max(h, tile), W = Math.max(w, tile);
  if (H === h && W === w) return {rgb, h, w};
  const out = new Float32Array(H * W * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(y, h - 1);
    for (let x = 0; x < W; x++) {
      const sx = Math.min(x, w - 1);
      for (let c = 0; c < 3; c++) out[(y * W + x) * 3 + c] = rgb[(sy * w + sx) * 3 + c];
    }
  }
  return {rgb: out, h: H, w: W};
}

/**
 * Upscale an RGB float image in [0, 1] with `runTile(patch) -> output` (fixed tile x tile
 * inputs, Float32Array outputs of (tile*scale)^2*3). Returns uint8 RGB of h*scale x w*scale.
 * `onTile(done, total)` is awaited after each tile (progress, cancellation).
 */
export async function tiledUpscale(rgb0, h0, w0, scale, tile, overlap, runTile, onTile) {
  const {rgb, h, w} = padToTile(rgb0, h0, w0, tile);
  const ys = starts(h, tile, overlap), xs = starts(w, tile, overlap);
  const H = h * scale, W = w * scale, T = tile * scale;
  const acc = new Float32Array(H * W * 3), wsum = new Float32Array(H * W);
  const patch = new Float32Array(tile * tile * 3);
  const total = ys.length * xs.length;
  let done = 0;
  for (let r = 0; r < ys.length; r++) {
    const y0 = ys[r];
    const top = r > 0 ? ys[r - 1] + tile - y0 : 0;
    const bottom = r + 1 < ys.length ? y0 + tile - ys[r + 1] : 0;
    const wy = ramp(T, Math.max(top, 0), Math.max(bottom, 0), scale);
    for (let c = 0; c < xs.length; c++) {
      const x0 = xs[c];
      for (let y = 0; y < tile; y++) {
        patch.set(rgb.subarray(((y0 + y) * w + x0) * 3, ((y0 + y) * w + x0 + tile) * 3), y * tile * 3);
      }
      const sr = await runTile(patch);
      const left = c > 0 ? xs[c - 1] + tile - x0 : 0;
      const right = c + 1 < xs.length ? x0 + tile - xs[c + 1] : 0;
      const wx = ramp(T, Math.max(left, 0), Math.max(right, 0), scale);
      for (let y = 0; y < T; y++) {
        const row = (y0 * scale + y) * W + x0 * scale;
        for (let x = 0; x < T; x++) {
          const wgt = Math.fround(wy[y] * wx[x]);
          const o = (row + x) * 3, i = (y * T + x) * 3;
          acc[o] += Math.fround(sr[i] * wgt);
          acc[o + 1] += Math.fround(sr[i + 1] * wgt);
          acc[o + 2] += Math.fround(sr[i + 2] * wgt);
          wsum[row + x] += wgt;
        }
      }
      done += 1;
      await onTile(done, total);
    }
  }
  const outH = h0 * scale, outW = w0 * scale;
  const out = new Uint8ClampedArray(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const p = y * W + x;
      for (let k = 0; k < 3; k++) {
        const v = Math.round(Math.fround(Math.fround(acc[p * 3 + k] / wsum[p]) * 255));
        out[(y * outW + x) * 3 + k] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return out;
}
