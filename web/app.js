// The page: reads the image, hands it to the worker (dist/worker.js), shows progress, the
// bicubic | MAFFSRN comparison and the download link. No module imports, so it needs no
// bundler; the worker is bundled (it imports @litertjs/core).
'use strict';

const MAX_OUTPUT_PIXELS = 16e6; // accumulators of a larger output would strain a phone's tab
// where the models and LiteRT.js's wasm files are, relative to the page: set in index.html's
// <meta> tags, so the static build (make web-dist) can move them into its own folder
const setting = (name) => document.querySelector(`meta[name="${name}"]`).content;
const MODELS = setting('maffsrn-models');
const WASM_DIR = new URL(setting('litert-wasm'), location.href).href;
const DEVICE_LABELS = {webgpu: 'GPU (WebGPU)', wasm: 'CPU (WebAssembly)'};
// The tiling numbers the Python package, tflite/run_tflite.py and the Android core share:
// maffsrn_tf/model/tiling.json (where index.html's <meta name="maffsrn-tiling"> says), fetched
// once. The page uses its `overlap`, and its `fixed_model_tile`: the LR input size of the
// shipped fixed-shape models it runs (maffsrn_x2_int8_128px.tflite and the like).
let tiling = null;

async function loadTiling() {
  if (!tiling) {
    const response = await fetch(new URL(setting('maffsrn-tiling'), location.href));
    if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
    tiling = await response.json();
  }
  return tiling;
}

const $ = (id) => document.getElementById(id);
let worker = null, image = null, runId = 0;

function setState(state, message) {
  document.body.dataset.state = state;
  $('status').textContent = message;
  const running = state === 'running';
  $('run').disabled = running || !image;
  $('cancel').disabled = !running;
}

function newWorker() {
  if (worker) worker.terminate();
  worker = new Worker('dist/worker.js');  // classic: LiteRT.js loads its wasm glue by importScripts
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => setState('error', `The worker failed: ${e.message || 'unknown error'}`);
}

async function loadFile(file) {
  image = null;
  $('result').hidden = true;
  if (!file) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (err) {
    setState('error', `${file.name} is not an image this browser can decode; choose a PNG, JPEG or WebP.`);
    return;
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  image = {name: file.name, width: bitmap.width, height: bitmap.height, bitmap,
           rgba: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data};
  setState('idle', `${file.name}: ${bitmap.width}×${bitmap.height}. Pick a scale and a model, then Upscale.`);
}

async function upscale() {
  if (!image) return;
  const picked = image;
  const scale = Number($('scale').value), quantization = $('model').value, accelerator = $('accelerator').value;
  const outPixels = image.width * image.height * scale * scale;
  if (outPixels > MAX_OUTPUT_PIXELS) {
    setState('error', `${image.width}×${image.height} at ×${scale} would be ${(outPixels / 1e6).toFixed(0)} MP; ` +
      `this page stops at ${MAX_OUTPUT_PIXELS / 1e6} MP. Resize the image or use maffsrn-upscale.`);
    return;
  }
  if (!worker) newWorker();
  runId += 1;
  const id = runId;
  $('progress').value = 0;
  setState('running', 'Loading…');
  let settings;
  try {
    settings = await loadTiling();
  } catch (err) {
    if (id === runId) setState('error', `Cannot read the tiling settings: ${err.message}`);
    return;
  }
  if (id !== runId) return;  // cancelled meanwhile
  const {fixed_model_tile: tile, overlap} = settings;
  const modelFile = `maffsrn_x${scale}_${quantization}_${tile}px.tflite`;
  setState('running', `Loading ${modelFile}…`);
  worker.postMessage({type: 'run', id, modelUrl: new URL(MODELS + modelFile, location.href).href,
                      wasmDir: WASM_DIR, accelerator, scale, tile, overlap, width: picked.width, height: picked.height,
                      rgba: picked.rgba.slice()});
}

function cancel() {
  newWorker();  // the only way to stop a run mid-tile; the next run starts a fresh worker
  runId += 1;
  $('progress').value = 0;
  setState('cancelled', 'Cancelled. Nothing was written; Upscale starts again.');
}

function show(msg) {
  const {width, height, rgb} = msg;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgba[i] = rgb[j]; rgba[i + 1] = rgb[j + 1]; rgba[i + 2] = rgb[j + 2]; rgba[i + 3] = 255;
  }
  const sr = $('sr'), bic = $('bicubic');
  sr.width = bic.width = width;
  sr.height = bic.height = height;
  sr.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
  const ctx = bic.getContext('2d');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image.bitmap, 0, 0, width, height);
  $('result').hidden = false;
  sr.toBlob((blob) => {
    const link = $('download');
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = image.name.replace(/\.[^.]*$/, '') + `_x${width / image.width}.png`;
  }, 'image/png');
}

function onWorkerMessage(event) {
  const msg = event.data;
  if (msg.id !== runId) return;  // a cancelled run
  if (msg.type === 'device') {
    document.body.dataset.accelerator = msg.accelerator;
    $('device').textContent = `Runs on: ${DEVICE_LABELS[msg.accelerator]}` + (msg.notice ? ` — ${msg.notice}` : '');
  } else if (msg.type === 'progress') {
    $('progress').value = msg.done / msg.total;
    setState('running', `Upscaling: tile ${msg.done} of ${msg.total}…`);
  } else if (msg.type === 'done') {
    show(msg);
    setState('done', `Done in ${msg.seconds.toFixed(1)} s: ${msg.width}×${msg.height}.`);
  } else if (msg.type === 'error') {
    setState('error', `Upscaling failed: ${msg.message}`);
  }
}

$('file').addEventListener('change', (e) => loadFile(e.target.files[0]));
$('run').addEventListener('click', upscale);
$('cancel').addEventListener('click', cancel);
$('slider').addEventListener('input', (e) => {
  $('sr').style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  loadFile(e.dataTransfer.files[0]);
});
setState('idle', 'Choose an image to start.');
