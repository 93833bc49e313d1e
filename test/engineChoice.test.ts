import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { initBackend, isNativeBackend, type ModuleLoader } from '../lib/core/backend';
import { featureBatchSizes, loadConfig, projectRoot, resolveFeatureBatchSize } from '../lib/core/config';
import { UserFacingError } from '../lib/core/errors';
import { createFeatureEngine, defaultEngine } from '../lib/backbone/engine';
import { OnnxRuntimeUnavailableError } from '../lib/backbone/onnxEngine';
import { realWeights, tfReady } from './helpers';

/** A loader for which every optional module is missing, as on a machine where none installed. */
const nothingInstalled: ModuleLoader = (moduleName) => {
  throw new Error(`Cannot find module '${moduleName}'`);
};

/** Runs test/fixtures/nativeBackendChoice.ts in its own process (it changes the global tfjs backend). */
function choiceInProcess(declared: string[]): {
  backend: string;
  tfjsBackend: string;
  expectedEngine: string;
  engine: string;
  description: string;
  batchSize: number;
  cachePrecision: string;
  lines: string[];
} {
  const script = path.join(projectRoot, 'test', 'fixtures', 'nativeBackendChoice.ts');
  const output = execFileSync(process.execPath, ['--import', 'tsx', script, declared.join(',')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { ...process.env, TF_BACKEND: '', FEATURE_ENGINE: '', CXR_FEATURE_BATCH_SIZE: '' },
  });
  return JSON.parse(output.trim().split('\n').pop()!);
}

describe('engine choice by backend (no GPU needed)', () => {
  it('defaults to tfjs on native TensorFlow and to ONNX Runtime on CPU-only backends; a forced engine wins', () => {
    assert.equal(defaultEngine('tensorflow-gpu').engine, 'tfjs');
    assert.equal(defaultEngine('tensorflow').engine, 'tfjs');
    assert.equal(defaultEngine('wasm').engine, 'onnxruntime');
    assert.equal(defaultEngine('cpu').engine, 'onnxruntime');
    assert.equal(defaultEngine('tensorflow-gpu', 'onnxruntime').engine, 'onnxruntime');
    assert.match(defaultEngine('tensorflow-gpu', 'onnxruntime').reason, /forced/);
    assert.equal(defaultEngine('wasm', 'tfjs').engine, 'tfjs');
    assert.ok(isNativeBackend('tensorflow-gpu') && isNativeBackend('tensorflow'));
    assert.ok(!isNativeBackend('wasm') && !isNativeBackend('cpu') && !isNativeBackend(undefined));
  });

  it('sizes backbone batches by backend (larger on a GPU) unless a size is set', () => {
    assert.equal(resolveFeatureBatchSize('auto', 'wasm'), 8);
    assert.equal(resolveFeatureBatchSize('auto', 'cpu'), 8);
    assert.equal(resolveFeatureBatchSize('auto', 'tensorflow-gpu'), featureBatchSizes['tensorflow-gpu']);
    assert.ok(featureBatchSizes['tensorflow-gpu'] > featureBatchSizes.wasm);
    assert.equal(resolveFeatureBatchSize(12, 'tensorflow-gpu'), 12);
    assert.equal(loadConfig({}, {}).featureBatchSize, 'auto');
    assert.equal(loadConfig({}, { CXR_FEATURE_BATCH_SIZE: '4' }).featureBatchSize, 4);
    assert.throws(() => resolveFeatureBatchSize(0, 'wasm'), UserFacingError);
    // The head's training batch is the article's on every backend: it changes the results.
    assert.equal(loadConfig({}, {}).batchSize, 64);
  });

  it('a forced backend that cannot load is one clear error naming its package', async () => {
    await tfReady();
    const error = await initBackend('tensorflow-gpu', () => undefined, nothingInstalled).catch((e: Error) => e);
    assert.ok(error instanceof UserFacingError, String(error));
    assert.match(error.message, /tfjs backend "tensorflow-gpu" was asked for but cannot be loaded/);
    assert.match(error.message, /Cannot find module '@tensorflow\/tfjs-node-gpu'/);
    assert.match(error.message, /Running on a GPU/);
    assert.equal(error.message.split('\n').length, 1);
    // A module that loads but registers no backend is not taken for a working one.
    const silent = await initBackend(
      'tensorflow',
      () => undefined,
      () => ({}),
    ).catch((e: Error) => e);
    assert.ok(silent instanceof UserFacingError, String(silent));
    assert.match(silent.message, /tfjs backend "tensorflow" was asked for but cannot be loaded/);
  });

  it('a forced ONNX Runtime (float32 or int8) that cannot load is one clear error', async () => {
    const weights = await realWeights();
    const forced = createFeatureEngine(weights, {
      engine: 'onnxruntime',
      load: nothingInstalled,
      log: () => undefined,
    });
    await assert.rejects(forced, (error: Error) => {
      assert.ok(error instanceof OnnxRuntimeUnavailableError);
      assert.match(error.message, /onnxruntime-node cannot be loaded \(Cannot find module 'onnxruntime-node'\)/);
      return true;
    });
    const int8 = createFeatureEngine(weights, {
      engine: 'onnxruntime-int8',
      load: nothingInstalled,
      log: () => undefined,
    });
    await assert.rejects(int8, OnnxRuntimeUnavailableError);
  });

  it('with tfjs-node-gpu present, the backbone runs on it: tfjs engine, GPU batch size, one log line', function () {
    this.timeout(120_000);
    const result = choiceInProcess(['@tensorflow/tfjs-node-gpu']);
    assert.equal(result.backend, 'tensorflow-gpu');
    assert.equal(result.tfjsBackend, 'tensorflow');
    assert.equal(result.expectedEngine, 'tfjs');
    assert.equal(result.engine, 'tfjs');
    assert.equal(result.description, 'tfjs (tensorflow)');
    assert.equal(result.batchSize, featureBatchSizes['tensorflow-gpu']);
    assert.equal(result.cachePrecision, 'float32');
    const choices = result.lines.filter((line) => line.startsWith('feature engine:'));
    assert.deepEqual(choices, ['feature engine: tfjs (tensorflow); default on the native tensorflow-gpu backend']);
    assert.equal(result.lines.filter((line) => line.startsWith('tfjs backend:')).length, 1);
  });

  it('with no native TensorFlow, ONNX Runtime stays the default (CPU batch size)', function () {
    this.timeout(120_000);
    const result = choiceInProcess(['@tensorflow/tfjs-backend-wasm', 'onnxruntime-node']);
    assert.equal(result.backend, 'wasm');
    assert.equal(result.engine, 'onnxruntime');
    assert.equal(result.batchSize, 8);
    assert.match(
      result.lines.find((line) => line.startsWith('tfjs backend:'))!,
      /tfjs-node-gpu, tfjs-node not installed/,
    );
    assert.match(
      result.lines.find((line) => line.startsWith('feature engine:'))!,
      /^feature engine: onnxruntime \(cpu, \d+ threads?\); default on the wasm backend \(no native TensorFlow\)$/,
    );
  });

  it('with neither native TensorFlow nor ONNX Runtime, tfjs on wasm takes over, saying why in the same line', function () {
    this.timeout(120_000);
    const result = choiceInProcess(['@tensorflow/tfjs-backend-wasm']);
    assert.equal(result.backend, 'wasm');
    assert.equal(result.engine, 'tfjs');
    const choices = result.lines.filter((line) => line.startsWith('feature engine:'));
    assert.equal(choices.length, 1, result.lines.join('\n'));
    assert.match(
      choices[0],
      /^feature engine: tfjs \(wasm\); onnxruntime-node cannot be loaded .*; falling back to tfjs$/,
    );
  });
});
