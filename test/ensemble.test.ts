import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../lib/core/config';
import { FeatureSet } from '../lib/core/contracts';
import { memberSeeds, trainHeads, trainOneHead } from '../lib/head/ensemble';
import { buildHead, SeededDropout } from '../lib/head/head';
import { loadHead, saveHead } from '../lib/head/modelStore';
import { evaluateHead, predictHead } from '../lib/head/predict';
import { gradCamMap } from '../lib/explain/gradcam';
import { realTrainValidation } from './featureFixtures';
import { temporaryFolder, tfReady } from './helpers';

const info = {
  classNames: ['COVID', 'NORMAL'],
  positiveClass: 0,
  weightsFingerprint: 'test',
  preprocessing: 'test',
  imageSize: 224,
  trainedAt: 'now',
  settings: {},
};

describe('ensemble, dropout and weight decay: heads as one model', function () {
  this.timeout(120_000);
  let train: FeatureSet;
  let validation: FeatureSet;

  before(async () => {
    await tfReady();
    ({ train, validation } = await realTrainValidation());
  });

  it('the member seeds are seed, seed+1, ...', () => {
    assert.deepEqual(memberSeeds({ seed: 42, ensembleSize: 3 }), [42, 43, 44]);
    assert.deepEqual(memberSeeds({ seed: 7, ensembleSize: 1 }), [7]);
  });

  it('averages the probabilities of heads trained with seeds seed.. (same as training them alone), saves and loads', async () => {
    const recipe = loadConfig({ recipe: 'tuned', epochs: 3, batchSize: 8, ensembleSize: 3 }, {});
    const tensorsBefore = tf.memory().numTensors;
    const trained = await trainHeads(recipe, { train: train, validation: validation });
    const folder = temporaryFolder('ensemble-model');
    try {
      assert.equal(trained.members.length, 3);
      assert.deepEqual(trained.head.outputs[0].shape, [null, 2]);
      const ensemble = predictHead(trained.head, validation.features);
      // The same heads trained one by one (same seeds, same data): their mean is the ensemble's output.
      const alone: number[][][] = [];
      for (const seed of [42, 43, 44]) {
        const one = await trainOneHead(recipe, seed, { train: train, validation: validation });
        alone.push(predictHead(one.head, validation.features));
        one.head.dispose();
      }
      ensemble.forEach((row, i) =>
        row.forEach((value, c) => {
          const mean = (alone[0][i][c] + alone[1][i][c] + alone[2][i][c]) / 3;
          assert.ok(Math.abs(value - mean) < 1e-5, `image ${i} class ${c}: ${value} vs mean ${mean}`);
        }),
      );
      // The heads differ (else the ensemble would be pointless).
      assert.ok(Math.abs(alone[0][0][0] - alone[1][0][0]) > 1e-4);

      await saveHead(folder, trained.head, info);
      const loaded = await loadHead(folder);
      const again = predictHead(loaded.head, validation.features);
      again.forEach((row, i) => row.forEach((value, c) => assert.ok(Math.abs(value - ensemble[i][c]) < 1e-6)));
      assert.deepEqual(evaluateHead(loaded.head, validation), evaluateHead(trained.head, validation));

      // Grad-CAM takes the ensemble as it takes one head.
      const convMap = tf.randomUniform([1, 7, 7, 2048], 0, 1, 'float32', 5) as tf.Tensor4D;
      const map = gradCamMap(convMap, loaded.head, 0);
      convMap.dispose();
      assert.equal(map.cam.length, 49);
      assert.ok(map.cam.every(Number.isFinite));
      loaded.head.dispose();
    } finally {
      trained.head.dispose();
      fs.rmSync(folder, { recursive: true, force: true });
    }
    assert.equal(
      tf.memory().numTensors,
      tensorsBefore,
      'no tensors leak from training, saving and loading an ensemble',
    );
  });

  it('dropout draws a new seeded mask each step, is off at inference, and a head with it saves and loads', async () => {
    const head = buildHead({ hiddenUnits: [16], classCount: 2, seed: 1, dropout: 0.5 });
    const folder = temporaryFolder('dropout-model');
    try {
      assert.deepEqual(
        head.layers.map((layer) => layer.name),
        ['pooled_features', 'fc1', 'dropout1', 'predictions'],
      );
      const layer = head.layers[2] as SeededDropout;
      const ones = tf.ones([1, 64]);
      const masks = [0, 1].map(() => tf.tidy(() => (layer.apply(ones, { training: true }) as tf.Tensor).dataSync()));
      assert.notDeepEqual(Array.from(masks[0]), Array.from(masks[1]), 'a fresh mask every training step');
      const dropped = masks[0].filter((value) => value === 0).length;
      assert.ok(dropped > 16 && dropped < 48, `about half dropped, got ${dropped} of 64`);
      const inference = tf.tidy(() => (layer.apply(ones, { training: false }) as tf.Tensor).dataSync());
      assert.ok(inference.every((value) => value === 1));
      ones.dispose();
      await saveHead(folder, head, info);
      const loaded = await loadHead(folder);
      assert.equal(loaded.head.layers[2].getClassName(), 'SeededDropout');
      const a = predictHead(head, validation.features);
      const b = predictHead(loaded.head, validation.features);
      a.forEach((row, i) => row.forEach((value, c) => assert.ok(Math.abs(value - b[i][c]) < 1e-6)));
      loaded.head.dispose();
    } finally {
      head.dispose();
      fs.rmSync(path.join(folder), { recursive: true, force: true });
    }
  });

  it('weight decay adds its L2 penalty to the training loss and shrinks the weights', async () => {
    const settings = { recipe: 'tuned' as const, epochs: 3, batchSize: 8 };
    const plain = await trainOneHead(loadConfig(settings, {}), 42, { train: train, validation: validation });
    const decayed = await trainOneHead(loadConfig({ ...settings, weightDecay: 0.01 }, {}), 42, {
      train: train,
      validation: validation,
    });
    try {
      const norm = (model: tf.LayersModel) =>
        tf.tidy(() => tf.add(tf.sum(tf.square(model.getWeights()[0])), 0).dataSync()[0]);
      assert.ok(norm(decayed.head) < norm(plain.head), 'smaller kernels with weight decay');
      // The reported training loss includes the penalty: higher than the plain cross-entropy run's.
      assert.ok(decayed.result.history[0].loss > plain.result.history[0].loss);
    } finally {
      plain.head.dispose();
      decayed.head.dispose();
    }
  });
});
