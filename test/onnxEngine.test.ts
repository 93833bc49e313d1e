import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { createFeatureEngine, TfjsFeatureEngine } from '../lib/backbone/engine';
import { UserFacingError } from '../lib/core/errors';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { foldBatchNorm } from '../lib/backbone';
import { OnnxFeatureEngine, OnnxRuntimeUnavailableError } from '../lib/backbone/onnxEngine';
import { ensureBackboneOnnx, onnxModelPaths, staleReason } from '../lib/backbone/onnxExport';
import { weightsPaths } from '../lib/backbone/weights';
import { realWeights, someXrays, temporaryFolder, tfReady } from './helpers';
import { FeatureEngine } from '../lib/core/contracts';

/**
 * Tolerances for ONNX Runtime vs tfjs (wasm) on the same float32 weights. Measured on these 8
 * X-rays: pooled max |diff| 1.7e-5 (values up to 12.5), conv5_block3_out max |diff| 1.7e-4
 * (values up to 50.6), i.e. a few float32 ulps of the largest values after 53 convolutions
 * summed in a different order (and with batch norm folded). The tolerances leave about 30x
 * margin, yet stay far below what a real mistake gives: changing every BN epsilon by 10%
 * moves pooled features by 0.1, and two different X-rays differ by at least 2.9.
 */
const pooledTolerance = 5e-4;
const convMapsTolerance = 5e-3;

function largestDifference(a: Float32Array, b: Float32Array): { absolute: number; relative: number } {
  assert.equal(a.length, b.length);
  let absolute = 0;
  let relative = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = Math.abs(a[i] - b[i]);
    absolute = Math.max(absolute, difference);
    relative = Math.max(relative, difference / Math.max(Math.abs(b[i]), 1));
  }
  return { absolute, relative };
}

describe('onnx engine: ONNX Runtime backbone built from the same weights', function () {
  this.timeout(120_000);
  const xrays = someXrays(4);
  const imageValues = 224 * 224 * 3;
  // Conv maps on half of them: the tfjs wasm forward costs about 0.35 s an image.
  const convMapImages = 4;
  let input: Float32Array;
  let onnxEngine: FeatureEngine;
  let tfjsEngine: FeatureEngine;
  let tensorsBefore: number;
  const logged: string[] = [];

  before(async () => {
    await tfReady();
    const paths = await realWeights();
    input = new Float32Array(xrays.length * imageValues);
    for (const [index, xray] of xrays.entries())
      caffePreprocess((await loadImageRgb(xray.file)).rgb, input, index * imageValues);
    tensorsBefore = tf.memory().numTensors;
    onnxEngine = await createFeatureEngine(paths, { log: (line) => logged.push(line) });
    tfjsEngine = await createFeatureEngine(paths, { engine: 'tfjs', log: (line) => logged.push(line) });
  });
  after(async () => {
    await onnxEngine?.dispose();
  });

  it('picks onnxruntime by default and tfjs when forced, and logs the choice', () => {
    assert.equal(onnxEngine.name, 'onnxruntime');
    assert.ok(onnxEngine instanceof OnnxFeatureEngine);
    assert.equal(tfjsEngine.name, 'tfjs');
    assert.ok(
      logged.some((line) =>
        /^feature engine: onnxruntime \(cpu, \d+ threads?\); default on the wasm backend \(no native TensorFlow\)$/.test(
          line,
        ),
      ),
      logged.join('\n'),
    );
    assert.ok(logged.includes(`feature engine: ${tfjsEngine.description}; forced by engine / FEATURE_ENGINE`));
  });

  it(`pooled features agree with tfjs on ${xrays.length} real X-rays (max |diff| < ${pooledTolerance})`, async () => {
    const before = tf.memory().numTensors;
    const fromOnnx = await onnxEngine.pooledFeatures(input, xrays.length);
    const fromTfjs = await tfjsEngine.pooledFeatures(input, xrays.length);
    assert.equal(tf.memory().numTensors, before, 'tfjs pooledFeatures leaks no tensors');
    const difference = largestDifference(fromOnnx, fromTfjs);
    console.log(
      `      pooled: max |diff| ${difference.absolute.toExponential(2)}, max relative ${difference.relative.toExponential(2)}`,
    );
    assert.ok(difference.absolute < pooledTolerance, `max |diff| ${difference.absolute}`);
  });

  it(`conv5_block3_out agrees with tfjs on ${convMapImages} of them (max |diff| < ${convMapsTolerance})`, async () => {
    const before = tf.memory().numTensors;
    const images = input.subarray(0, convMapImages * imageValues);
    const fromOnnx = await onnxEngine.convMaps(images, convMapImages);
    const fromTfjs = await tfjsEngine.convMaps(images, convMapImages);
    assert.equal(fromOnnx.length, convMapImages * 7 * 7 * 2048);
    const difference = largestDifference(fromOnnx, fromTfjs);
    console.log(
      `      conv5_block3_out: max |diff| ${difference.absolute.toExponential(2)}, max relative ${difference.relative.toExponential(2)}`,
    );
    assert.ok(difference.absolute < convMapsTolerance, `max |diff| ${difference.absolute}`);
    assert.equal(tf.memory().numTensors, before, 'tfjs convMaps leaks no tensors');
  });

  it('accepts a view into a larger buffer (offset and extra length)', async () => {
    const view = await onnxEngine.pooledFeatures(input.subarray(imageValues), 1);
    const alone = await onnxEngine.pooledFeatures(input.slice(imageValues, 2 * imageValues), 1);
    assert.deepEqual(view, alone);
  });

  it('falls back to tfjs with one log line when onnxruntime cannot load, but not when it is forced', async () => {
    const paths = await realWeights();
    const originalOnnx = OnnxFeatureEngine.create;
    const originalTfjs = TfjsFeatureEngine.create;
    // Simulated: no need to load the tfjs model a third time to test the choice.
    const standIn = { name: 'tfjs', description: 'tfjs (stand-in)' } as unknown as TfjsFeatureEngine;
    OnnxFeatureEngine.create = async () => {
      throw new OnnxRuntimeUnavailableError('simulated: binding missing');
    };
    TfjsFeatureEngine.create = async () => standIn;
    try {
      const lines: string[] = [];
      const engine = await createFeatureEngine(paths, { log: (line) => lines.push(line) });
      assert.equal(engine, standIn);
      assert.equal(lines.filter((line) => line.includes('falling back to tfjs')).length, 1, lines.join('\n'));
      assert.equal(
        lines[lines.length - 1],
        'feature engine: tfjs (stand-in); onnxruntime-node cannot be loaded (simulated: binding missing); falling back to tfjs',
      );
      await assert.rejects(
        createFeatureEngine(paths, { engine: 'onnxruntime', log: () => undefined }),
        OnnxRuntimeUnavailableError,
      );
    } finally {
      OnnxFeatureEngine.create = originalOnnx;
      TfjsFeatureEngine.create = originalTfjs;
    }
  });

  it('refuses an unknown engine name and a bad thread count', async () => {
    const paths = await realWeights();
    await assert.rejects(
      createFeatureEngine(paths, { engine: 'torch' as 'tfjs', log: () => undefined }),
      UserFacingError,
    );
    await assert.rejects(OnnxFeatureEngine.create(paths, { threads: 0 }), /threads must be a positive integer/);
  });

  it('leaks no tfjs tensors: disposing the tfjs engine frees all it allocated', async () => {
    await tfjsEngine.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });
});

describe('onnx export: stored beside the weights, rebuilt when stale or damaged', function () {
  this.timeout(120_000);
  let folder: string;

  // A private copy of the weights folder (weights.bin linked, not copied), so damaging the
  // export here never disturbs the real one that other tests and runs use.
  before(async () => {
    const real = await realWeights();
    folder = temporaryFolder('onnx-export');
    const copy = weightsPaths(folder);
    fs.mkdirSync(copy.backboneDir, { recursive: true });
    fs.symlinkSync(real.weightsBin, copy.weightsBin);
    fs.copyFileSync(real.modelJson, copy.modelJson);
    fs.copyFileSync(real.stamp, copy.stamp);
  });
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('builds once, then reuses the stored file', async () => {
    const paths = weightsPaths(folder);
    assert.equal(staleReason(paths), 'not built yet');
    const lines: string[] = [];
    const onnxFile = await ensureBackboneOnnx(paths, (line) => lines.push(line));
    assert.equal(onnxFile, path.join(paths.backboneDir, 'backbone.onnx'));
    assert.equal(lines.length, 1);
    assert.equal(staleReason(paths), undefined);
    await ensureBackboneOnnx(paths, (line) => lines.push(line));
    assert.equal(lines.length, 1, 'a fresh export is not rebuilt');
    const record = JSON.parse(fs.readFileSync(onnxModelPaths(paths).recordFile, 'utf8'));
    assert.equal(record.weightsSha256, JSON.parse(fs.readFileSync(paths.stamp, 'utf8')).weightsSha256);
    assert.deepEqual(
      fs.readdirSync(paths.backboneDir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary files left',
    );
  });

  it('detects an export built from other weights and rebuilds it', async () => {
    const paths = weightsPaths(folder);
    const { onnxFile } = onnxModelPaths(paths);
    const firstBuild = fs.readFileSync(onnxFile);
    const stamp = JSON.parse(fs.readFileSync(paths.stamp, 'utf8'));
    fs.writeFileSync(paths.stamp, JSON.stringify({ ...stamp, weightsSha256: '0'.repeat(64) }));
    assert.equal(staleReason(paths), 'built from other weights');
    const lines: string[] = [];
    await ensureBackboneOnnx(paths, (line) => lines.push(line));
    assert.match(lines[0], /built from other weights/);
    assert.equal(staleReason(paths), undefined);
    assert.ok(fs.readFileSync(onnxFile).equals(firstBuild), 'the export is deterministic');
  });

  it('detects a damaged file of the right size, a truncated one and a missing record', async () => {
    const paths = weightsPaths(folder);
    const { onnxFile, recordFile } = onnxModelPaths(paths);
    const data = fs.readFileSync(onnxFile);
    data[Math.floor(data.length / 2)] ^= 0xff;
    fs.writeFileSync(onnxFile, data);
    assert.match(staleReason(paths) ?? '', /does not match its recorded sha256/);
    fs.truncateSync(onnxFile, 1000);
    assert.match(staleReason(paths) ?? '', /does not match its recorded sha256/);
    fs.rmSync(recordFile);
    assert.match(staleReason(paths) ?? '', /backbone\.onnx\.json is missing/);
    // ensureBackboneOnnx rebuilds for any of these reasons, as the test above shows.
  });
});

describe('onnx export: batch-norm folding', () => {
  it('a folded 1x1 convolution equals convolution then inference-mode batch norm', () => {
    // Keras kernel [1, 1, in=2, out=2], bias, and a batch norm with epsilon 1e-3.
    const kernel = Float32Array.from([0.5, -1, 2, 0.25]); // [i=0: o0, o1], [i=1: o0, o1]
    const bias = Float32Array.from([0.1, -0.2]);
    const batchNorm = {
      gamma: Float32Array.from([1.5, 0.5]),
      beta: Float32Array.from([0.3, -0.1]),
      mean: Float32Array.from([0.2, 1]),
      variance: Float32Array.from([4, 0.25]),
      epsilon: 1e-3,
    };
    const folded = foldBatchNorm(kernel, bias, [1, 1, 2, 2], batchNorm);
    const x = [3, -2];
    for (let o = 0; o < 2; o++) {
      const conv = x[0] * kernel[o] + x[1] * kernel[2 + o] + bias[o];
      const expected =
        ((conv - batchNorm.mean[o]) / Math.sqrt(batchNorm.variance[o] + 1e-3)) * batchNorm.gamma[o] + batchNorm.beta[o];
      // ONNX weight layout [out, in, 1, 1].
      const actual = x[0] * folded.kernel[o * 2] + x[1] * folded.kernel[o * 2 + 1] + folded.bias[o];
      assert.ok(Math.abs(actual - expected) < 1e-6, `output ${o}: ${actual} vs ${expected}`);
    }
  });
});
