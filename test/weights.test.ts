import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone, loadImagenetTop } from '../lib/backbone/resnet50';
import { TfjsFeatureEngine } from '../lib/backbone/engine';
import { ModelFileError } from '../lib/core/errors';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import {
  hasPublishedIntegrity,
  modernLayerNames,
  verifyWeights,
  weightsPackage,
  weightsPaths,
} from '../lib/backbone/weights';
import { realWeights, samplePhoto, someXrays, temporaryFolder, tfReady } from './helpers';

describe('weights: the real ImageNet ResNet50', function () {
  this.timeout(120_000);
  let engine: TfjsFeatureEngine;

  before(async () => {
    await tfReady();
    engine = await TfjsFeatureEngine.create(await realWeights());
  });
  after(() => engine?.dispose());

  it('the downloaded tarball matches the published integrity and the converted files their recorded hashes', async () => {
    const paths = await realWeights();
    const tarball = path.join(path.dirname(paths.backboneDir), 'downloads', weightsPackage.tarball);
    assert.ok(hasPublishedIntegrity(tarball));
    verifyWeights(paths);
  });

  it("uses today's Keras layer names, no top, frozen", () => {
    const names = engine.model.layers.map((layer) => layer.name);
    for (const name of [
      'conv1_conv',
      'conv1_bn',
      'conv1_relu',
      'pool1_pool',
      'conv2_block1_0_conv',
      'conv2_block1_1_conv',
      'conv2_block1_add',
      'conv3_block4_out',
      'conv5_block3_out',
    ]) {
      assert.ok(names.includes(name), `missing ${name}`);
    }
    assert.ok(!names.includes('fc1000') && !names.includes('predictions'));
    assert.equal(names[names.length - 1], 'conv5_block3_out');
    assert.equal(engine.model.trainableWeights.length, 0);
    assert.equal(engine.model.countParams(), 23_587_712);
  });

  it('outputs conv5_block3_out as 7x7x2048', async () => {
    assert.deepEqual(engine.model.outputs[0].shape, [null, 7, 7, 2048]);
    const [xray] = someXrays(1);
    const maps = await engine.convMaps(caffePreprocess((await loadImageRgb(xray.file)).rgb), 1);
    assert.equal(maps.length, 7 * 7 * 2048);
    assert.ok(
      maps.every((value) => value >= 0),
      'conv5_block3_out follows a ReLU',
    );
  });

  it('still knows ImageNet: the bald eagle photo comes out bald_eagle', async function () {
    const eagle = samplePhoto('eagle.jpg');
    if (!eagle) this.skip(); // .ci/run installs Debian's darknet package, which ships it
    const before = tf.memory().numTensors;
    const top = loadImagenetTop(await realWeights());
    const pooled = await engine.pooledFeatures(caffePreprocess((await loadImageRgb(eagle!)).rgb), 1);
    const probabilities = tf.tidy(() =>
      tf.softmax(tf.add(tf.matMul(tf.tensor2d(pooled, [1, 2048]), top.kernel), top.bias)).dataSync(),
    );
    const best = probabilities.indexOf(Math.max(...probabilities));
    assert.equal(top.labels[best], 'bald_eagle');
    assert.ok(probabilities[best] > 0.5, `only ${probabilities[best]}`);
    tf.dispose([top.kernel, top.bias]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('leaks no tensors across repeated feature extraction', async () => {
    const input = caffePreprocess((await loadImageRgb(someXrays(1)[0].file)).rgb);
    await engine.pooledFeatures(input, 1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await engine.pooledFeatures(input, 1);
    await engine.convMaps(input, 1);
    assert.equal(tf.memory().numTensors, before);
  });

  it('maps every old Keras 2.2 name to a modern one', () => {
    const layers = [
      { name: 'res3a_branch2b', class_name: 'Conv2D', config: { name: 'res3a_branch2b' }, inbound_nodes: [] },
      {
        name: 'bn3a_branch2b',
        class_name: 'BatchNormalization',
        config: { name: 'bn3a_branch2b' },
        inbound_nodes: [[['res3a_branch2b', 0, 0, {}]]],
      },
      {
        name: 'activation_9',
        class_name: 'Activation',
        config: { name: 'activation_9' },
        inbound_nodes: [[['bn3a_branch2b', 0, 0, {}]]],
      },
    ] as Parameters<typeof modernLayerNames>[0];
    assert.deepEqual(
      [...modernLayerNames(layers).values()],
      ['conv3_block1_2_conv', 'conv3_block1_2_bn', 'conv3_block1_2_relu'],
    );
  });

  describe('damaged weights give a clear error naming the file', () => {
    it('truncated weights.bin', async () => {
      const paths = await realWeights();
      const folder = temporaryFolder('damaged');
      const damaged = weightsPaths(folder);
      fs.mkdirSync(damaged.backboneDir, { recursive: true });
      fs.copyFileSync(paths.modelJson, damaged.modelJson);
      fs.writeFileSync(damaged.weightsBin, fs.readFileSync(paths.weightsBin).subarray(0, 1_000_000));
      await assert.rejects(
        loadBackbone(damaged),
        (error: Error) =>
          error instanceof ModelFileError && /truncated/.test(error.message) && error.message.includes(folder),
      );
      fs.copyFileSync(paths.stamp, damaged.stamp);
      assert.throws(
        () => verifyWeights(damaged),
        (error: Error) => error instanceof ModelFileError && /run `npm run setup`|damaged/.test(error.message),
      );
    });
    it('missing model.json', async () => {
      await assert.rejects(
        loadBackbone(weightsPaths('/nonexistent/weights')),
        /model\.json: missing; run `npm run setup`/,
      );
    });
  });
});
