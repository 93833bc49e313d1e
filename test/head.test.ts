import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { buildClassifier, buildHead, parameterCounts, summaryLines } from '../lib/head/head';
import { createRandom } from '../lib/core/random';
import { tfReady } from './helpers';

function weightValues(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((weight) => weight.dataSync() as Float32Array);
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

/** A small stand-in for ResNet50 with the real output shape: 7x7x3 input, 1x1 conv to 7x7x2048, frozen. */
function fakeBackbone(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [7, 7, 3], name: 'input_1' });
  const output = tf.layers
    .conv2d({
      filters: 2048,
      kernelSize: 1,
      activation: 'relu',
      name: 'conv5_block3_out',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: 'ones',
    })
    .apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name: 'fake_resnet50' });
  model.trainable = false;
  return model;
}

describe('head: the new classifier on the pooled 2048 features', () => {
  const article = { hiddenUnits: [512, 512], classCount: 2, seed: 42 };
  before(tfReady);

  it('maps [null, 2048] to [null, 2] through fc1, fc2 (ReLU) and predictions (softmax)', () => {
    const head = buildHead(article);
    try {
      assert.deepEqual(head.inputs[0].shape, [null, 2048]);
      assert.deepEqual(head.outputs[0].shape, [null, 2]);
      assert.deepEqual(
        head.layers.map((layer) => layer.name),
        ['pooled_features', 'fc1', 'fc2', 'predictions'],
      );
      const configs = head.layers.slice(1).map((layer) => layer.getConfig() as { units: number; activation: string });
      assert.deepEqual(
        configs.map(({ units, activation }) => [units, activation]),
        [
          [512, 'relu'],
          [512, 'relu'],
          [2, 'softmax'],
        ],
      );
      assert.deepEqual(
        head.getWeights().map((weight) => weight.shape),
        [[2048, 512], [512], [512, 512], [512], [512, 2], [2]],
      );
    } finally {
      head.dispose();
    }
  });

  it('any number of hidden layers and classes', () => {
    const head = buildHead({ hiddenUnits: [64], classCount: 3, seed: 1 });
    const bare = buildHead({ hiddenUnits: [], classCount: 2, seed: 1 });
    try {
      assert.deepEqual(
        head.layers.map((layer) => layer.name),
        ['pooled_features', 'fc1', 'predictions'],
      );
      assert.deepEqual(head.outputs[0].shape, [null, 3]);
      assert.deepEqual(
        bare.layers.map((layer) => layer.name),
        ['pooled_features', 'predictions'],
      );
      assert.deepEqual(bare.getWeights()[0].shape, [2048, 2]);
    } finally {
      head.dispose();
      bare.dispose();
    }
  });

  it('seeded Glorot initialisation: same seed, same weights; another seed, other kernels', () => {
    const a = buildHead(article);
    const b = buildHead(article);
    const c = buildHead({ ...article, seed: 43 });
    try {
      const [wa, wb, wc] = [a, b, c].map(weightValues);
      wa.forEach((values, index) =>
        assert.deepEqual(values, wb[index], `weight ${index} differs between two builds with seed 42`),
      );
      for (const kernel of [0, 2, 4]) {
        assert.ok(maxDifference(wa[kernel], wc[kernel]) > 0.01, `kernel ${kernel} should change with the seed`);
      }
      // Biases start at zero; kernels are Glorot-uniform: |w| <= sqrt(6 / (fanIn + fanOut)), roughly zero-mean.
      for (const bias of [1, 3, 5]) assert.ok(wa[bias].every((value) => value === 0));
      const limit = Math.sqrt(6 / (2048 + 512));
      const fc1 = wa[0];
      assert.ok(fc1.every((value) => Math.abs(value) <= limit + 1e-7));
      const mean = fc1.reduce((sum, value) => sum + value, 0) / fc1.length;
      const spread = Math.max(...fc1.subarray(0, 10000).map(Math.abs));
      assert.ok(Math.abs(mean) < 1e-3, `mean ${mean}`);
      assert.ok(spread > 0.9 * limit, 'values fill the Glorot range');
    } finally {
      [a, b, c].forEach((model) => model.dispose());
    }
  });

  it('parameter counts: 1,312,770 trainable, none frozen', () => {
    const head = buildHead(article);
    try {
      assert.deepEqual(parameterCounts(head), {
        trainable: 2048 * 512 + 512 + 512 * 512 + 512 + 512 * 2 + 2,
        frozen: 0,
      });
      assert.equal(parameterCounts(head).trainable, 1_312_770);
      const lines = summaryLines(head);
      assert.ok(
        lines.some((line) => line.includes('fc1') && line.includes('1049088')),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((line) => /Total params: 1,?312,?770/.test(line)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((line) => line.startsWith('pooled_features (InputLayer)   ')),
        lines.join('\n'),
      );
    } finally {
      head.dispose();
    }
  });

  it('the summary keeps whole layer names, however long (issue #12)', () => {
    const input = tf.input({ shape: [7, 7, 8], name: 'conv5_block2_out' });
    const normalised = tf.layers.batchNormalization({ name: 'conv4_block6_3_bn' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: normalised });
    try {
      const lines = summaryLines(model);
      const row = lines.find((line) => line.startsWith('conv4_block6_3_bn (BatchNormalization)'));
      assert.ok(row, lines.join('\n'));
      assert.match(row, /\[null,7,7,8\]\s+32$/);
      assert.ok(
        lines.every((line) => line.length <= 100),
        lines.join('\n'),
      );
    } finally {
      model.dispose();
    }
  });

  it('building and disposing a head leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    buildHead(article).dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  describe('buildClassifier: backbone -> global average pooling -> head', () => {
    let backbone: tf.LayersModel;
    let head: tf.LayersModel;
    let classifier: tf.LayersModel;
    let images: tf.Tensor4D;

    before(() => {
      backbone = fakeBackbone(7);
      head = buildHead(article);
      classifier = buildClassifier(backbone, head);
      const random = createRandom(3);
      images = tf.tensor4d(
        Float32Array.from({ length: 3 * 7 * 7 * 3 }, () => random() * 2 - 1),
        [3, 7, 7, 3],
      );
    });
    after(() => {
      tf.dispose(images);
      classifier.dispose();
    });

    it('takes the backbone input and gives two class probabilities', () => {
      assert.deepEqual(classifier.inputs[0].shape, [null, 7, 7, 3]);
      assert.deepEqual(classifier.outputs[0].shape, [null, 2]);
      const names = classifier.layers.map((layer) => layer.name);
      assert.deepEqual(names.slice(-4), ['avg_pool', 'fc1', 'fc2', 'predictions']);
      assert.ok(names.includes('conv5_block3_out'));
    });

    it('predicts what the head predicts on the 7x7 mean of the backbone output', () => {
      const [full, twoStep] = tf.tidy(() => {
        const maps = backbone.predict(images) as tf.Tensor4D;
        const pooled = tf.mean(maps, [1, 2]);
        return [(classifier.predict(images) as tf.Tensor).dataSync(), (head.predict(pooled) as tf.Tensor).dataSync()];
      });
      assert.equal(full.length, 6);
      assert.ok(maxDifference(full, twoStep) < 1e-6, `max |diff| ${maxDifference(full, twoStep)}`);
      // Not a trivially constant output: the three inputs give three different predictions.
      assert.notEqual(full[0], full[2]);
    });

    it("shares the head's layers: changing the head changes the classifier", () => {
      const before = tf.tidy(() => (classifier.predict(images) as tf.Tensor).dataSync());
      const predictions = head.getLayer('predictions');
      const [kernel, bias] = predictions.getWeights();
      const shifted = tf.tidy(() => [kernel.clone(), bias.add(tf.tensor1d([5, -5]))]);
      predictions.setWeights(shifted);
      tf.dispose(shifted);
      const after = tf.tidy(() => (classifier.predict(images) as tf.Tensor).dataSync());
      assert.ok(after[0] > before[0], 'a bias towards class 0 raises its probability');
      const fromHead = tf.tidy(() =>
        (head.predict(tf.mean(backbone.predict(images) as tf.Tensor4D, [1, 2])) as tf.Tensor).dataSync(),
      );
      assert.ok(maxDifference(after, fromHead) < 1e-6);
    });

    it('counts the head as trainable and the backbone as frozen', () => {
      assert.deepEqual(parameterCounts(classifier), { trainable: 1_312_770, frozen: 3 * 2048 + 2048 });
    });
  });
});
