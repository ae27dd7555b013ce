// The Web Worker that runs MAFFSRN with LiteRT.js, tile by tile, off the page's thread.
// Messages in:  {type: 'run', id, modelUrl, scale, tile, overlap, width, height, rgba}
// Messages out: {type: 'progress', id, done, total} | {type: 'done', id, width, height, rgb,
//                seconds} | {type: 'error', id, message}
import {Tensor, loadAndCompile, loadLiteRt} from '@litertjs/core';

import {tiledUpscale} from './tiling.js';

const WASM_DIR = new URL('../node_modules/@litertjs/core/wasm/', self.location.href).href;
let runtime = null;
const models = new Map();

async function model(url) {
  if (!runtime) {
    // In a worker, Emscripten would look for the .wasm beside this script (dist/):
    // point it at the package's wasm folder instead.
    self.Module = {locateFile: (file) => WASM_DIR + file};
    runtime = loadLiteRt(WASM_DIR);
  }
  await runtime;
  if (!models.has(url)) models.set(url, loadAndCompile(url, {accelerator: 'wasm'}));
  return models.get(url);
}

async function run(msg) {
  const start = performance.now();
  const compiled = await model(msg.modelUrl);
  const [details] = compiled.getInputDetails();
  const tile = details.shape[1];
  if (details.shape[2] !== tile || tile !== msg.tile) {
    throw new Error(`model input is ${details.shape.join('x')}, expected 1x${msg.tile}x${msg.tile}x3`);
  }
  const {width, height, rgba, scale} = msg;
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i] / 255;
    rgb[j + 1] = rgba[i + 1] / 255;
    rgb[j + 2] = rgba[i + 2] / 255;
  }
  const runTile = async (patch) => {
    const input = new Tensor(new Float32Array(patch), [1, tile, tile, 3]);
    const outputs = await compiled.run([input]);
    input.delete();
    const data = new Float32Array(outputs[0].toTypedArray());
    for (const t of outputs) t.delete();
    return data;
  };
  const onTile = async (done, total) => self.postMessage({type: 'progress', id: msg.id, done, total});
  const out = await tiledUpscale(rgb, height, width, scale, tile, msg.overlap, runTile, onTile);
  const seconds = (performance.now() - start) / 1000;
  self.postMessage(
    {type: 'done', id: msg.id, width: width * scale, height: height * scale, rgb: out, seconds},
    [out.buffer],
  );
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type !== 'run') return;
  run(msg).catch((err) => self.postMessage({type: 'error', id: msg.id, message: String(err && err.message || err)}));
};
