import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../lib/core/config';
import { buildHead } from '../lib/head/head';
import { batchesPerEpoch, createOptimizer, EpochLog, oneHot, trainHead } from '../lib/head/train';
import { realTrainValidation } from './featureFixtures';
import { tfReady } from './helpers';
import { argmax, evaluateHead, predictHead } from '../lib/head/predict';
import { FeatureSet } from '../lib/core/contracts';

const article = { hiddenUnits: [512, 512], classCount: 2, seed: 42 };

/** History without the wall-clock seconds, for comparing two runs. */
function withoutTime(history: EpochLog[]): Omit<EpochLog, 'seconds'>[] {
  return history.map(({ seconds: _seconds, ...rest }) => rest);
}

function weightValues(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((weight) => weight.dataSync().slice() as Float32Array);
}

describe('train: the head on real backbone features, Keras-style', function () {
  this.timeout(60_000);
  /** 12 real X-rays per class: 8 + 8 for training, 4 + 4 for validation. */
  let train: FeatureSet;
  let validation: FeatureSet;

  before(async () => {
    await tfReady();
    ({ train, validation } = await realTrainValidation());
  });

  it("batches per epoch: the article's n // batch_size, at least 1", () => {
    assert.equal(batchesPerEpoch(1589, 64), 24);
    assert.equal(batchesPerEpoch(1590, 64), 24);
    assert.equal(batchesPerEpoch(1600, 64), 25);
    assert.equal(batchesPerEpoch(16, 8), 2);
    assert.equal(batchesPerEpoch(127, 64), 1);
    assert.equal(batchesPerEpoch(20, 64), 1, 'a set smaller than one batch still trains');
    assert.equal(batchesPerEpoch(1, 64), 1);
  });

  it("recipe 'tuned' lowers the training loss on real X-ray features", async () => {
    const config = loadConfig({ recipe: 'tuned', epochs: 5, batchSize: 8 }, {});
    const head = buildHead(article);
    try {
      const before = evaluateHead(head, train);
      const result = await trainHead(head, train, validation, config);
      const after = evaluateHead(head, train);
      assert.ok(after.loss < 0.5 * before.loss, `training loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)}`);
      assert.ok(
        after.accuracy > before.accuracy && after.accuracy >= 0.75,
        `training accuracy ${before.accuracy} -> ${after.accuracy}`,
      );
      const { history } = result;
      assert.ok(history.length >= 1 && history.length <= 5);
      assert.ok(
        history[history.length - 1].loss < history[0].loss,
        `epoch losses ${history.map((epoch) => epoch.loss.toFixed(3)).join(', ')}`,
      );
      assert.deepEqual(
        history.map((epoch) => epoch.epoch),
        history.map((_, index) => index + 1),
      );
      for (const epoch of history) {
        assert.equal(epoch.learningRate, 1e-3);
        for (const value of [epoch.loss, epoch.validationLoss, epoch.accuracy, epoch.validationAccuracy])
          assert.ok(Number.isFinite(value));
        assert.ok(
          epoch.accuracy >= 0 && epoch.accuracy <= 1 && epoch.validationAccuracy >= 0 && epoch.validationAccuracy <= 1,
        );
      }
      assert.equal(result.batchesPerEpoch, 2);
      // Article early stopping (patience 0): if it stopped, the last epoch's val_loss was no better than the one before.
      if (result.stoppedAtEpoch !== undefined) {
        assert.equal(result.stoppedAtEpoch, history.length);
        assert.ok(
          history[history.length - 1].validationLoss >=
            Math.min(...history.slice(0, -1).map((epoch) => epoch.validationLoss)),
        );
      } else {
        assert.equal(history.length, 5);
      }
      // The validation loss logged for the last epoch is the head's loss on the validation set now.
      assert.ok(Math.abs(evaluateHead(head, validation).loss - history[history.length - 1].validationLoss) < 1e-4);
    } finally {
      head.dispose();
    }
  });

  it("recipe 'article' (SGD 1e-4) moves slowly but downhill", async () => {
    const head = buildHead(article);
    try {
      const { history } = await trainHead(
        head,
        train,
        validation,
        loadConfig({ recipe: 'article', epochs: 3, batchSize: 8 }, {}),
      );
      assert.ok(history.every((epoch) => epoch.learningRate === 1e-4));
      for (let i = 1; i < history.length; i++)
        assert.ok(
          history[i].loss < history[i - 1].loss,
          `epoch losses ${history.map((epoch) => epoch.loss).join(', ')}`,
        );
    } finally {
      head.dispose();
    }
  });

  it('is reproducible: the same seed gives the same history and weights; another seed does not', async () => {
    const config = loadConfig({ recipe: 'tuned', epochs: 3, batchSize: 8, earlyStopping: { patience: 10 } }, {});
    const runs: { history: Omit<EpochLog, 'seconds'>[]; weights: Float32Array[] }[] = [];
    for (const seed of [42, 42, 7]) {
      const head = buildHead({ ...article, seed });
      try {
        const { history } = await trainHead(head, train, validation, { ...config, seed });
        runs.push({ history: withoutTime(history), weights: weightValues(head) });
      } finally {
        head.dispose();
      }
    }
    assert.equal(runs[0].history.length, 3);
    assert.deepEqual(runs[1].history, runs[0].history);
    runs[0].weights.forEach((values, index) => assert.deepEqual(runs[1].weights[index], values, `weight ${index}`));
    assert.notDeepEqual(runs[2].history, runs[0].history);
  });

  it('the shuffle is seeded too: same initial weights, another training seed, another path', async () => {
    const config = loadConfig({ recipe: 'tuned', epochs: 2, batchSize: 8, earlyStopping: { patience: 10 } }, {});
    const losses: number[][] = [];
    for (const seed of [42, 43]) {
      const head = buildHead(article);
      try {
        losses.push((await trainHead(head, train, validation, { ...config, seed })).history.map((epoch) => epoch.loss));
      } finally {
        head.dispose();
      }
    }
    assert.notDeepEqual(losses[1], losses[0]);
  });

  it('hooks: onBatchEnd for every batch, onEpochEnd with the history so far', async () => {
    const config = loadConfig({ recipe: 'tuned', epochs: 3, batchSize: 5, earlyStopping: { patience: 10 } }, {});
    const batches: [number, number, number][] = [];
    const epochLengths: number[] = [];
    const head = buildHead(article);
    try {
      const result = await trainHead(head, train, validation, config, {
        onBatchEnd: (epoch, batch, perEpoch) => void batches.push([epoch, batch, perEpoch]),
        onEpochEnd: (history) => void epochLengths.push(history.length),
      });
      // 16 images, batches of 5: 3 per epoch (the last partial batch is not used).
      assert.equal(result.batchesPerEpoch, 3);
      assert.deepEqual(
        batches,
        [0, 1, 2].flatMap((epoch) => [0, 1, 2].map((batch) => [epoch, batch, 3])),
      );
      assert.deepEqual(epochLengths, [1, 2, 3]);
    } finally {
      head.dispose();
    }
  });

  it('early stopping inside training: stops at the first worse val_loss and restores the best weights', async () => {
    // Validation labels opposite to the training ones: as the head learns, val_loss rises.
    const flipped: FeatureSet = { features: train.features, labels: train.labels.map((label) => 1 - label) };
    const config = loadConfig(
      { recipe: 'tuned', epochs: 6, batchSize: 8, earlyStopping: { restoreBestWeights: true } },
      {},
    );
    const head = buildHead(article);
    const weightsAfterEpoch: Float32Array[][] = [];
    try {
      const result = await trainHead(head, train, flipped, config, {
        onEpochEnd: () => void weightsAfterEpoch.push(weightValues(head)),
      });
      const losses = result.history.map((epoch) => epoch.validationLoss);
      assert.ok(result.history.length < 6, `stopped early (val_loss ${losses.join(', ')})`);
      assert.equal(result.stoppedAtEpoch, result.history.length);
      const best = losses.indexOf(Math.min(...losses));
      assert.equal(result.restoredEpoch, best + 1);
      assert.ok(losses[losses.length - 1] >= losses[best]);
      weightValues(head).forEach((values, index) =>
        assert.deepEqual(values, weightsAfterEpoch[best][index], `weight ${index} is the best epoch's`),
      );
      assert.notDeepEqual(weightsAfterEpoch[result.history.length - 1][0], weightsAfterEpoch[best][0]);
      assert.ok(Math.abs(evaluateHead(head, flipped).loss - losses[best]) < 1e-4);
    } finally {
      head.dispose();
    }
  });

  it('learning-rate reduction inside training: the history shows the rate each epoch used', async () => {
    const flipped: FeatureSet = { features: train.features, labels: train.labels.map((label) => 1 - label) };
    const config = loadConfig({ recipe: 'tuned', epochs: 4, batchSize: 8, earlyStopping: { patience: 10 } }, {});
    const head = buildHead(article);
    try {
      const result = await trainHead(head, train, flipped, config);
      const losses = result.history.map((epoch) => epoch.validationLoss);
      assert.equal(result.history.length, 4);
      // Replay Keras' rule (patience 0, factor 0.1) on the logged losses.
      let best = Infinity;
      let rate = 1e-3;
      const expectedRates: number[] = [];
      const expectedChanges: number[] = [];
      losses.forEach((loss, index) => {
        expectedRates.push(rate);
        if (loss < best) best = loss;
        else {
          rate *= 0.1;
          expectedChanges.push(index + 1);
        }
      });
      assert.ok(expectedChanges.length > 0, `val_loss ${losses.join(', ')} should rise at some point`);
      result.history.forEach((epoch, index) =>
        assert.ok(
          Math.abs(epoch.learningRate - expectedRates[index]) < 1e-12,
          `epoch ${index + 1}: ${epoch.learningRate} vs ${expectedRates[index]}`,
        ),
      );
      assert.deepEqual(
        result.learningRateChanges.map((change) => change.epoch),
        expectedChanges,
      );
    } finally {
      head.dispose();
    }
  });

  it('leaks no tensors: train then dispose the head, for each optimizer', async () => {
    for (const optimizer of ['sgd', 'momentum', 'adam'] as const) {
      const before = tf.memory().numTensors;
      const head = buildHead(article);
      const config = loadConfig({ optimizer, epochs: 2, batchSize: 8, earlyStopping: { patience: 10 } }, {});
      await trainHead(head, train, validation, config);
      // Training the same head again releases the first run's optimizer.
      await trainHead(head, train, validation, config);
      head.dispose();
      assert.equal(tf.memory().numTensors, before, `${optimizer}: ${tf.memory().numTensors - before} tensors left`);
    }
  });

  it('leaks no tensors across evaluateHead and predictHead', () => {
    const head = buildHead(article);
    try {
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        evaluateHead(head, validation);
        predictHead(head, validation.features);
      }
      assert.equal(tf.memory().numTensors, before);
    } finally {
      head.dispose();
    }
  });

  it('evaluateHead is the mean categorical cross-entropy and the accuracy, as computed by hand', () => {
    // No hidden layer: p = softmax(x . W + b), with W picking features 0 and 1 and b = [0.5, 0].
    const head = buildHead({ hiddenUnits: [], classCount: 2, seed: 1 });
    try {
      const kernel = new Float32Array(2048 * 2);
      kernel[0 * 2 + 0] = 1; // feature 0 -> class 0
      kernel[1 * 2 + 1] = 1; // feature 1 -> class 1
      const weights = [tf.tensor2d(kernel, [2048, 2]), tf.tensor1d([0.5, 0])];
      head.setWeights(weights);
      tf.dispose(weights);
      const rows = [
        { x0: 2, x1: 0, label: 0 }, // logits [2.5, 0]: right
        { x0: 0, x1: 1, label: 1 }, // logits [0.5, 1]: right
        { x0: 0, x1: 3, label: 0 }, // logits [0.5, 3]: wrong
        { x0: 1, x1: 0.2, label: 1 }, // logits [1.5, 0.2]: wrong
      ];
      const features = new Float32Array(rows.length * 2048);
      rows.forEach((row, index) => {
        features[index * 2048] = row.x0;
        features[index * 2048 + 1] = row.x1;
      });
      const probabilities = rows.map(({ x0, x1 }) => {
        const logits = [x0 + 0.5, x1];
        const total = Math.exp(logits[0]) + Math.exp(logits[1]);
        return logits.map((logit) => Math.exp(logit) / total);
      });
      const expectedLoss =
        rows.reduce((sum, row, index) => sum - Math.log(probabilities[index][row.label]), 0) / rows.length;
      const { loss, accuracy } = evaluateHead(head, { features, labels: rows.map((row) => row.label) });
      assert.ok(Math.abs(loss - expectedLoss) < 1e-5, `loss ${loss} vs ${expectedLoss}`);
      assert.equal(accuracy, 0.5);

      const predicted = predictHead(head, features);
      predicted.forEach((row, index) =>
        row.forEach((value, k) => assert.ok(Math.abs(value - probabilities[index][k]) < 1e-6)),
      );
      assert.deepEqual(predicted.map(argmax), [0, 1, 1, 0]);
    } finally {
      head.dispose();
    }
  });

  it('predictHead gives one row of class probabilities per image, each summing to 1', () => {
    const head = buildHead(article);
    try {
      const predicted = predictHead(head, validation.features);
      assert.equal(predicted.length, validation.labels.length);
      for (const row of predicted) {
        assert.equal(row.length, 2);
        assert.ok(row.every((value) => value >= 0 && value <= 1));
        assert.ok(Math.abs(row[0] + row[1] - 1) < 1e-6, `row sums to ${row[0] + row[1]}`);
      }
      assert.ok(
        predicted.some((row) => Math.abs(row[0] - predicted[0][0]) > 1e-6),
        'different X-rays, different probabilities',
      );
      assert.deepEqual(predictHead(head, new Float32Array(0)), []);
    } finally {
      head.dispose();
    }
  });

  it('refuses feature sets whose sizes do not match, or that are empty', async () => {
    const head = buildHead(article);
    const config = loadConfig({ epochs: 1, batchSize: 8 }, {});
    try {
      const short: FeatureSet = { features: train.features.subarray(0, 2048 * 3), labels: train.labels };
      await assert.rejects(
        trainHead(head, short, validation, config),
        /^Error: training set: 6144 feature values for 16 labels \(expected 2048 per image\)$/,
      );
      await assert.rejects(
        trainHead(head, train, { features: new Float32Array(0), labels: [] }, config),
        /validation set: no images/,
      );
    } finally {
      head.dispose();
    }
  });

  it('helpers: oneHot, argmax and the optimizer choice', () => {
    const encoded = oneHot([0, 1, 1], 2);
    assert.deepEqual(encoded.arraySync(), [
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    assert.equal(encoded.dtype, 'float32');
    encoded.dispose();
    assert.equal(argmax([0.2, 0.7, 0.1]), 1);
    assert.equal(argmax([0.5, 0.5]), 0, 'ties go to the first class, like np.argmax');
    const settings = { learningRate: 0.01, momentum: 0.9 };
    for (const [name, className] of [
      ['sgd', 'SGD'],
      ['momentum', 'Momentum'],
      ['adam', 'Adam'],
    ] as const) {
      const optimizer = createOptimizer({ ...settings, optimizer: name });
      assert.equal(optimizer.getClassName(), className);
      assert.equal((optimizer as unknown as { learningRate: number }).learningRate, 0.01);
      optimizer.dispose();
    }
    assert.throws(() => createOptimizer({ ...settings, optimizer: 'rmsprop' as 'sgd' }), /unknown optimizer "rmsprop"/);
  });
});
