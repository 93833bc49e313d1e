import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { createFeatureEngine } from '../lib/backbone/engine';
import { WeightsPaths } from '../lib/backbone/weights';
import { imageValues } from '../lib/core/contracts';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { blockForward, blockFromImagenet, checkBlockName, disposeBlock } from '../lib/finetune/block';
import { BlockInputCache } from '../lib/finetune/blockInputs';
import { decodeHalfInto, encodeHalf } from '../lib/finetune/half';
import { TrunkEngine } from '../lib/finetune/trunk';
import { realWeights, someXrays, temporaryFolder, tfReady } from './helpers';

function relativeError(a: Float32Array, b: Float32Array): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return difference / scale;
}

describe('fine-tuning block: ImageNet weights with BN folded, frozen trunk on ONNX Runtime', () => {
  let paths: WeightsPaths;
  let input: Float32Array;
  let frozenMaps: Float32Array;
  const count = 2;

  before(async () => {
    await tfReady();
    paths = await realWeights();
    input = new Float32Array(count * imageValues);
    const xrays = someXrays(1);
    for (const [index, xray] of xrays.entries())
      caffePreprocess((await loadImageRgb(xray.file)).rgb, input, index * imageValues);
    const engine = await createFeatureEngine(paths, { engine: 'onnxruntime', log: () => undefined });
    frozenMaps = await engine.convMaps(input, count);
    await engine.dispose();
  });

  for (const name of ['conv5_block3', 'conv5'] as const) {
    it(`${name}: trunk output through the tfjs block gives the frozen backbone's conv5_block3_out`, async () => {
      const trunk = await TrunkEngine.create(paths, name);
      const inputs = await trunk.blockInputs(input, count);
      await trunk.dispose();
      const block = blockFromImagenet(name, paths.modelJson, paths.weightsBin);
      const before = tf.memory().numTensors;
      const shape = trunk.outputName === 'conv5_block2_out' ? [count, 7, 7, 2048] : [count, 14, 14, 1024];
      const maps = tf.tidy(
        () =>
          blockForward(
            block,
            tf.tensor4d(inputs, shape as [number, number, number, number]),
          ).dataSync() as Float32Array,
      );
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
      disposeBlock(block);
      assert.ok(relativeError(maps, frozenMaps) < 1e-4, `relative error ${relativeError(maps, frozenMaps)}`);
    });
  }

  it('float16 storage keeps real conv5_block2_out values within 1e-3 relative', async () => {
    const trunk = await TrunkEngine.create(paths, 'conv5_block3');
    const values = await trunk.blockInputs(input, 1);
    await trunk.dispose();
    const half = encodeHalf(values);
    const back = new Float32Array(values.length);
    decodeHalfInto(new Uint8Array(half.buffer), back, 0);
    for (let i = 0; i < values.length; i++)
      assert.ok(Math.abs(back[i] - values[i]) <= 5e-4 * Math.abs(values[i]) + 1e-7, `${values[i]} -> ${back[i]}`);
  });

  it('refuses an unknown block name and a cache made with other weights, naming them', () => {
    assert.throws(() => checkBlockName('conv6'), /finetune.block "conv6".*conv5_block3 or conv5/);
    const folder = temporaryFolder('block-cache');
    const cache = BlockInputCache.open(folder, 'conv5_block3', 'aaaa');
    cache.add([{ hash: 'a'.repeat(40), values: new Float32Array(7 * 7 * 2048).fill(1) }]);
    const file = BlockInputCache.fileFor(folder, 'conv5_block3', 'aaaa');
    assert.equal(BlockInputCache.open(folder, 'conv5_block3', 'aaaa').size, 1);
    fs.copyFileSync(file, path.join(folder, 'copy.bin'));
    fs.copyFileSync(`${file}.json`, path.join(folder, 'copy.bin.json'));
    assert.throws(
      () => BlockInputCache.open(folder, 'conv5_block3', 'bbbb', path.join(folder, 'copy.bin')),
      (error: Error) => error.message.includes('copy.bin') && error.message.includes('weightsFingerprint "aaaa"'),
    );
    fs.rmSync(folder, { recursive: true });
  });
});
