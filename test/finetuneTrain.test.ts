import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../lib/core/config';
import { imageValues } from '../lib/core/contracts';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { buildHead } from '../lib/head/head';
import { checkModelFolder } from '../lib/head/modelStore';
import { assemble, blockFromImagenet, disposeBlock, makeConv, TrainableBlock } from '../lib/finetune/block';
import { BlockInputSet } from '../lib/finetune/blockInputs';
import { createFinetunedEngine } from '../lib/finetune/engine';
import { encodeHalf } from '../lib/finetune/half';
import { loadFinetunedBlock, saveFinetuned } from '../lib/finetune/store';
import { finetuneBlock, FinetuneSettings } from '../lib/finetune/train';
import { finetuneSettings } from '../lib/pipeline/finetune';
import { realWeights, someXrays, temporaryFolder, tfReady } from './helpers';

function seeded(count: number, seed: number, scale = 1): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state / 2147483648 - 0.5) * scale;
  });
}

/** A small conv5_block3-shaped block (2048 -> 8 -> 8 -> 2048 channels) with seeded weights. */
function tinyBlock(): TrainableBlock {
  return assemble('conv5_block3', [
    makeConv('conv5_block3_1', seeded(2048 * 8, 1, 0.05), [1, 1, 2048, 8], seeded(8, 2, 0.1), 1, 'valid'),
    makeConv('conv5_block3_2', seeded(9 * 8 * 8, 3, 0.3), [3, 3, 8, 8], seeded(8, 4, 0.1), 1, 'same'),
    makeConv('conv5_block3_3', seeded(8 * 2048, 5, 0.3), [1, 1, 8, 2048], seeded(2048, 6, 0.1), 1, 'valid'),
  ]);
}

function tinySet(count: number, seed: number): BlockInputSet {
  const labels = Array.from({ length: count }, (_, i) => i % 2);
  const inputs = labels.map((label, i) => {
    const values = seeded(7 * 7 * 2048, seed + i, 2).map((v) => Math.max(0, v + label * 0.3));
    const half = encodeHalf(values);
    return Buffer.from(half.buffer);
  });
  return { input: (row) => inputs[row], labels, images: labels.map((label, i) => ({ file: `x${i}.png`, label })) };
}

const settings: FinetuneSettings = {
  optimizer: 'adam',
  learningRate: 1e-3,
  momentum: 0.9,
  batchSize: 4,
  epochs: 2,
  seed: 7,
  patience: 5,
  minDelta: 0,
  restoreBestWeights: true,
  reduceFactor: 0.1,
  reducePatience: 5,
};

async function trainTiny(backend: string): Promise<Float32Array[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const block = tinyBlock();
    const head = buildHead({ hiddenUnits: [16], classCount: 2, seed: 3 });
    const before = tf.memory().numTensors;
    const result = await finetuneBlock(block, head, tinySet(12, 10), tinySet(4, 50), settings);
    assert.equal(tf.memory().numTensors, before, `no tensor leaks on ${backend}`);
    assert.equal(result.history.length, 2);
    const values = [...block.variables, ...head.getWeights()].map((v) => v.dataSync().slice() as Float32Array);
    disposeBlock(block);
    head.dispose();
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

/** The head's saved info for the save/load tests (fields the store needs, nothing more). */
function headInfo() {
  return {
    classNames: ['COVID', 'NORMAL'],
    positiveClass: 0,
    weightsFingerprint: 'abc',
    preprocessing: 'p',
    imageSize: 224,
    trainedAt: new Date().toISOString(),
    settings: {},
  };
}
describe('fine-tuning: training loop, saved model, engines', () => {
  before(tfReady);

  it('trains a small block to the same weights on the cpu backend and on the backend in use', async () => {
    const reference = await trainTiny('cpu');
    const here = await trainTiny(tf.getBackend());
    const start = tinyBlock();
    const moved = start.variables[0].dataSync()[0] !== reference[0][0];
    disposeBlock(start);
    assert.ok(moved, 'training changed the weights');
    reference.forEach((values, index) => {
      let worst = 0;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i] - here[index][i]));
      assert.ok(worst < 2e-4, `variable ${index} differs by ${worst}`);
    });
  });

  it('refuses an unknown block and a learning rate that is not positive, naming the setting', () => {
    assert.throws(
      () => finetuneSettings(loadConfig({ finetune: { block: 'conv4' as 'conv5' } }, {})),
      /finetune.block "conv4"/,
    );
    assert.throws(() => finetuneSettings(loadConfig({ finetune: { learningRate: 0 } }, {})), /finetune.learningRate/);
    assert.throws(() => finetuneSettings(loadConfig({ finetune: { learningRate: -1e-4 } }, {})), /positive/);
  });

  it('saves block + head atomically and loads the same block; a damaged or half-written save is refused', async () => {
    const folder = path.join(temporaryFolder('finetuned'), 'model');
    const block = tinyBlock();
    const head = buildHead({ hiddenUnits: [16], classCount: 2, seed: 3 });
    const info = headInfo();
    await saveFinetuned(folder, block, head, info);
    const loaded = loadFinetunedBlock(folder);
    block.variables.forEach((variable, index) =>
      assert.deepEqual(loaded.block.variables[index].dataSync(), variable.dataSync()),
    );
    assert.equal(loaded.description.version, 1);
    disposeBlock(loaded.block);
    const binary = path.join(folder, 'block.bin');
    const bytes = fs.readFileSync(binary);
    bytes[100] ^= 0xff;
    fs.writeFileSync(binary, bytes);
    assert.throws(() => loadFinetunedBlock(folder), /block\.bin: does not match the sha256/);
    fs.rmSync(path.join(folder, 'classifier.json'));
    assert.throws(() => checkModelFolder(folder), /not a complete saved model/);
    disposeBlock(block);
    head.dispose();
  });

  it('gives the same pooled features and conv maps with the trunk on ONNX Runtime and on tfjs', async () => {
    const paths = await realWeights();
    const folder = path.join(temporaryFolder('finetuned-engines'), 'model');
    const block = blockFromImagenet('conv5_block3', paths.modelJson, paths.weightsBin);
    // A "fine-tuned" block: the ImageNet one, visibly changed.
    block.convs[1].kernel.assign(tf.tidy(() => tf.mul(block.convs[1].kernel, 1.1) as tf.Tensor4D));
    const head = buildHead({ hiddenUnits: [16], classCount: 2, seed: 3 });
    const info = headInfo();
    await saveFinetuned(folder, block, head, info);
    disposeBlock(block);
    head.dispose();
    const input = new Float32Array(2 * imageValues);
    for (const [index, xray] of someXrays(1).entries())
      caffePreprocess((await loadImageRgb(xray.file)).rgb, input, index * imageValues);
    const results: Record<string, { pooled: Float32Array; maps: Float32Array }> = {};
    for (const engineName of ['onnxruntime', 'tfjs'] as const) {
      const engine = await createFinetunedEngine(paths, folder, { engine: engineName, log: () => undefined });
      assert.equal(engine.name, engineName);
      results[engineName] = { pooled: await engine.pooledFeatures(input, 2), maps: await engine.convMaps(input, 2) };
      await engine.dispose();
    }
    for (const what of ['pooled', 'maps'] as const) {
      const a = results.onnxruntime[what];
      const b = results.tfjs[what];
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(b[i]));
      }
      assert.ok(worst / scale < 1e-4, `${what}: relative difference ${worst / scale}`);
    }
  });
});
