import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../lib/core/errors';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { loadOnnxRuntime, OnnxFeatureEngine } from '../lib/backbone/onnxEngine';
import { ensureBackboneOnnx, onnxModelPaths } from '../lib/backbone/onnxExport';
import {
  calibrate,
  calibrationSettings,
  ensureInt8BackboneOnnx,
  int8ModelPaths,
  int8StaleReason,
  pickCalibrationFiles,
} from '../lib/backbone/onnxInt8';
import { quantizeWeightsPerChannel, uint8Parameters } from '../lib/backbone/onnxQuantize';
import { weightsPaths, type WeightsPaths } from '../lib/backbone/weights';
import { realWeights, someXrays, temporaryFolder } from './helpers';

/**
 * Gates on real X-rays, calibrated on only 8 (the product uses 256 training images): pooled
 * features of other X-rays keep a cosine of at least 0.98 with float32 (measured 0.993 minimum
 * with 32 calibration images), conv5 maps at least 0.95. A wrong scale or a swapped channel axis
 * gives cosines far below (0.3-0.8).
 */
const pooledCosineGate = 0.98;
const mapsCosineGate = 0.95;

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    normA += a[i] * a[i];
    normB += b[i] * b[i];
  }
  return dot / Math.sqrt(normA * normB);
}

/** A weights folder of links to the real files, so the int8 model is built there, not in data/. */
async function scratchWeights(): Promise<WeightsPaths> {
  const real = await realWeights();
  await ensureBackboneOnnx(real, () => undefined);
  const folder = temporaryFolder('int8-weights');
  const paths = weightsPaths(folder);
  fs.mkdirSync(paths.backboneDir, { recursive: true });
  const { onnxFile, recordFile } = onnxModelPaths(real);
  for (const file of [real.modelJson, real.weightsBin, real.stamp, onnxFile, recordFile]) {
    fs.symlinkSync(fs.realpathSync(file), path.join(paths.backboneDir, path.basename(file)));
  }
  return paths;
}

describe('int8 backbone: QDQ graph calibrated on X-rays, checked against float32', function () {
  const xrays = someXrays(8).map((image) => image.file);
  const calibrationFiles = xrays.filter((_, index) => index % 2 === 0);
  const otherFiles = xrays.filter((_, index) => index % 2 === 1);
  const settings = { method: 'minmax' as const, images: calibrationFiles.length, seed: 7 };
  let paths: WeightsPaths;
  const logged: string[] = [];
  let int8File: string;

  before(async function () {
    this.timeout(300_000);
    paths = await scratchWeights();
    int8File = await ensureInt8BackboneOnnx(
      paths,
      { ...settings, calibrationFiles: () => calibrationFiles, ort: loadOnnxRuntime() },
      (line) => logged.push(line),
    );
  });

  it('quantizes weights per output channel, symmetric int8, and activations to uint8 with an exact zero', () => {
    const { values, scales } = quantizeWeightsPerChannel(Float32Array.of(0.5, -1, 0.25, 2, -4, 1), 2);
    assert.deepEqual([...scales], [1 / 127, 4 / 127].map(Math.fround));
    assert.deepEqual([...values], [64, -127, 32, 64, -127, 32]);
    const relu = uint8Parameters({ min: 0, max: 25.5 });
    assert.deepEqual(relu, { scale: 0.1, zeroPoint: 0 });
    const image = uint8Parameters({ min: -100, max: 155 });
    assert.equal(image.zeroPoint, 100);
    assert.ok(Math.abs(image.scale - 1) < 1e-12);
  });

  it('is valid ONNX in QDQ form that ONNX Runtime loads and fuses into QLinearConv', async () => {
    assert.match(
      logged.join('\n'),
      /Building .*backbone-int8\.onnx \(not built yet\): calibrating on 8 training images/,
    );
    const model = onnx.ModelProto.decode(fs.readFileSync(int8File));
    const ops = model.graph!.node!.map((node) => node.opType);
    assert.equal(ops.filter((op) => op === 'Conv').length, 53);
    assert.ok(!ops.includes('Relu'), 'every ReLU is folded into a zero-point-0 quantization');
    const int8Weights = model.graph!.initializer!.filter(
      (tensor) => tensor.dataType === onnx.TensorProto.DataType.INT8,
    );
    assert.ok(int8Weights.length >= 53 * 2, 'int8 weights and their zero points');
    const floatConvWeights = model.graph!.initializer!.filter(
      (tensor) => tensor.name!.endsWith('/weight') && tensor.dataType === onnx.TensorProto.DataType.FLOAT,
    );
    assert.equal(floatConvWeights.length, 0, 'no float32 convolution weight is left');
    assert.ok(fs.statSync(int8File).size < fs.statSync(onnxModelPaths(paths).onnxFile).size / 3);

    const optimized = path.join(temporaryFolder('int8-optimized'), 'optimized.onnx');
    const session = await loadOnnxRuntime().InferenceSession.create(int8File, {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimized,
      logSeverityLevel: 3,
    });
    await session.release();
    const fused = onnx.ModelProto.decode(fs.readFileSync(optimized)).graph!.node!.map((node) => node.opType);
    assert.equal(fused.filter((op) => op === 'QLinearConv').length, 53, fused.join(' '));
    assert.equal(fused.filter((op) => op === 'QLinearAdd').length, 16);
    assert.equal(fused.filter((op) => op === 'Conv').length, 0);
  });

  it(`agrees with float32 on X-rays it was not calibrated on (pooled cosine >= ${pooledCosineGate}, conv5 >= ${mapsCosineGate})`, async () => {
    const float32 = await OnnxFeatureEngine.create(paths, { threads: 2 });
    const int8 = await OnnxFeatureEngine.create(paths, { threads: 2, precision: 'int8', int8: settings });
    try {
      assert.equal(int8.name, 'onnxruntime-int8');
      for (const file of otherFiles) {
        const input = caffePreprocess((await loadImageRgb(file)).rgb);
        const pooled = cosine(await float32.pooledFeatures(input, 1), await int8.pooledFeatures(input, 1));
        assert.ok(pooled >= pooledCosineGate, `${path.basename(file)}: pooled cosine ${pooled}`);
        const maps = cosine(await float32.convMaps(input, 1), await int8.convMaps(input, 1));
        assert.ok(maps >= mapsCosineGate, `${path.basename(file)}: conv5 cosine ${maps}`);
      }
    } finally {
      await float32.dispose();
      await int8.dispose();
    }
  });

  it('calibration is deterministic for a seed: same images, same ranges', async () => {
    const all = someXrays(20).map((image) => image.file);
    const chosen = calibrationSettings({ images: 4, seed: 3 });
    assert.deepEqual(pickCalibrationFiles(all, chosen), pickCalibrationFiles([...all].reverse(), chosen));
    assert.notDeepEqual(pickCalibrationFiles(all, chosen), pickCalibrationFiles(all, { ...chosen, seed: 4 }));
    const floatModel = onnx.ModelProto.decode(fs.readFileSync(onnxModelPaths(paths).onnxFile));
    const files = pickCalibrationFiles(all, { ...chosen, images: 2 });
    for (const method of ['minmax', 'percentile'] as const) {
      const one = await calibrate(floatModel, files, { ...chosen, method }, loadOnnxRuntime());
      const two = await calibrate(floatModel, files, { ...chosen, method }, loadOnnxRuntime());
      assert.deepEqual([...one.entries()], [...two.entries()]);
      assert.ok(one.size > 60, `${one.size} activation ranges`);
    }
  });

  it('a damaged int8 file is detected and rebuilt; other settings make it stale; no images, no build', async () => {
    const full = calibrationSettings(settings);
    assert.equal(int8StaleReason(paths, full), undefined);
    assert.match(int8StaleReason(paths, { ...full, images: 5 })!, /other calibration settings/);
    assert.match(int8StaleReason(paths, { ...full, method: 'percentile' })!, /other calibration settings/);

    const bytes = fs.readFileSync(int8File);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(int8File, bytes);
    assert.match(int8StaleReason(paths, full)!, /damaged or modified/);
    await assert.rejects(
      ensureInt8BackboneOnnx(paths, { ...settings, ort: loadOnnxRuntime() }, () => undefined),
      (error: Error) => error instanceof UserFacingError && /needs training images to calibrate on/.test(error.message),
    );
    const lines: string[] = [];
    await ensureInt8BackboneOnnx(
      paths,
      { ...settings, calibrationFiles: () => calibrationFiles, ort: loadOnnxRuntime() },
      (line) => lines.push(line),
    );
    assert.match(lines.join('\n'), /\(the file does not match its recorded sha256 \(damaged or modified\)\)/);
    assert.equal(int8StaleReason(paths, full), undefined);
    const record = JSON.parse(fs.readFileSync(int8ModelPaths(paths).recordFile, 'utf8'));
    assert.deepEqual(
      record.calibration.files.sort(),
      pickCalibrationFiles(calibrationFiles, full)
        .map((f) => path.basename(f))
        .sort(),
    );
  });
});
