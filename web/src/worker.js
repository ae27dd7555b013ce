// The Web Worker that runs MAFFSRN with LiteRT.js, tile by tile, off the page's thread.
// Messages in:  {type: 'run', id, modelUrl, wasmDir, accelerator ('auto' | 'wasm'), scale,
//                tile, overlap, width, height, rgba}
// Messages out: {type: 'device', id, accelerator ('webgpu' | 'wasm'), notice} |
//               {type: 'progress', id, done, total} | {type: 'done', id, width, height, rgb,
//                seconds} | {type: 'error', id, message}
// 'auto' runs float models on WebGPU when the browser offers an adapter (int8 models stay on
// wasm: WebGPU computes in floats); a model that fails to compile there runs on wasm, with a
// notice.
import {Tensor, loadAndCompile, loadLiteRt} from '@litertjs/core';

import {tiledUpscale} from './tiling.js';

let runtime = null;
const models = new Map();  // `${accelerator} ${url}` -> Promise<CompiledModel>

async function start(wasmDir) {
  if (!runtime) {
    // In a worker, Emscripten would look for the .wasm beside this script (dist/):
    // point it at the wasm folder the page names instead.
    self.Module = {locateFile: (file) => wasmDir + file};
    runtime = loadLiteRt(wasmDir);
  }
  await runtime;
}

async function hasWebGpu() {
  if (!self.navigator || !self.navigator.gpu) return false;
  try {
    return Boolean(await self.navigator.gpu.requestAdapter());
  } catch (err) {
    return false;
  }
}

function compile(url, accelerator) {
  const key = `${accelerator} ${url}`;
  if (!models.has(key)) {
    const pending = loadAndCompile(url, {accelerator});
    pending.catch(() => models.delete(key));  // a failed compile is retried next time
    models.set(key, pending);
  }
  return models.get(key);
}

// The compiled model and where it runs: WebGPU if asked for, offered and it compiles there.
async function model(msg) {
  await start(msg.wasmDir);
  const isFloat = !/_int8_|_uint8io/.test(msg.modelUrl);
  let notice = '';
  if (msg.accelerator === 'auto' && isFloat && await hasWebGpu()) {
    try {
      return {compiled: await compile(msg.modelUrl, 'webgpu'), accelerator: 'webgpu', notice};
    } catch (err) {
      notice = `WebGPU could not run this model (${String(err && err.message || err).split('\n')[0]}); using WebAssembly.`;
    }
  }
  return {compiled: await compile(msg.modelUrl, 'wasm'), accelerator: 'wasm', notice};
}

async function run(msg) {
  const start = performance.now();
  const {compiled, accelerator, notice} = await model(msg);
  self.postMessage({type: 'device', id: msg.id, accelerator, notice});
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
    // a WebGPU output lives on the GPU: copy it to the CPU before reading it
    const cpu = accelerator === 'wasm' ? outputs[0] : await outputs[0].moveTo('wasm');
    const data = new Float32Array(cpu.toTypedArray());
    if (cpu !== outputs[0]) cpu.delete();
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
