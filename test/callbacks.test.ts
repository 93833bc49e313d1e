import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import {
  EarlyStoppingWithRestore,
  getLearningRate,
  ReduceLearningRateOnPlateau,
  setLearningRate,
} from '../lib/head/callbacks';
import { tfReady } from './helpers';

/** A one-weight model whose weights we set to a marker value "at the end of" each fake epoch. */
function tinyModel(): tf.LayersModel {
  // Functional, like the head (a Sequential model refuses stopTraining before compile).
  const input = tf.input({ shape: [2] });
  const output = tf.layers.dense({ units: 1, kernelInitializer: 'zeros' }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

function setMarker(model: tf.LayersModel, value: number): void {
  const weights = [tf.fill([2, 1], value), tf.fill([1], value)];
  model.setWeights(weights);
  tf.dispose(weights);
}

function marker(model: tf.LayersModel): number {
  const values = model.getWeights().map((weight) => weight.dataSync());
  assert.ok(
    values.every((array) => array.every((value) => value === values[0][0])),
    'all weights hold one marker',
  );
  return values[0][0];
}

/**
 * Runs a fake training: epoch e "ends" with weights = e + 1 and val_loss = losses[e]; stops as
 * Keras' fit loop does when the callback sets stopTraining. Returns the epochs run.
 */
async function drive(callback: EarlyStoppingWithRestore, model: tf.LayersModel, losses: number[]): Promise<number> {
  callback.setModel(model);
  model.stopTraining = false;
  await callback.onTrainBegin();
  let epochs = 0;
  for (const [epoch, loss] of losses.entries()) {
    setMarker(model, epoch + 1);
    await callback.onEpochEnd(epoch, { loss: 1, val_loss: loss });
    epochs++;
    if (model.stopTraining) break;
  }
  await callback.onTrainEnd();
  return epochs;
}

const article = { monitor: 'val_loss', minDelta: 0, patience: 0, restoreBestWeights: false };

describe('callbacks: Keras EarlyStopping (with restore) and ReduceLROnPlateau', () => {
  let model: tf.LayersModel;
  before(async () => {
    await tfReady();
    model = tinyModel();
  });
  after(() => model.dispose());

  describe('EarlyStoppingWithRestore', () => {
    it("patience 0 (the article's) stops at the first epoch that is not better", async () => {
      const stopping = new EarlyStoppingWithRestore(article);
      const epochs = await drive(stopping, model, [0.9, 0.7, 0.8, 0.5, 0.4]);
      assert.equal(epochs, 3);
      assert.equal(stopping.stoppedEpoch, 2);
      assert.equal(stopping.bestEpoch, 1);
      assert.equal(stopping.best, 0.7);
      assert.equal(model.stopTraining, true);
    });

    it('an equal loss is not an improvement (min_delta 0)', async () => {
      const stopping = new EarlyStoppingWithRestore(article);
      assert.equal(await drive(stopping, model, [0.9, 0.9, 0.1]), 2);
      assert.equal(stopping.stoppedEpoch, 1);
    });

    it('never stops while the loss keeps falling', async () => {
      const stopping = new EarlyStoppingWithRestore(article);
      assert.equal(await drive(stopping, model, [0.9, 0.8, 0.7, 0.6]), 4);
      assert.equal(stopping.stoppedEpoch, -1);
      assert.equal(stopping.bestEpoch, 3);
      assert.equal(model.stopTraining, false);
    });

    it('patience n waits for n epochs without improvement in a row; an improvement resets the count', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, patience: 2 });
      // 1.0 best, 1.1 (1 bad), 0.9 best (reset), 0.95 (1 bad), 0.92 (2 bad: stop), never reaches 0.1.
      assert.equal(await drive(stopping, model, [1.0, 1.1, 0.9, 0.95, 0.92, 0.1]), 5);
      assert.equal(stopping.stoppedEpoch, 4);
      assert.equal(stopping.bestEpoch, 2);
    });

    it('minDelta: a smaller improvement than minDelta does not count (Keras: current + min_delta < best)', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, minDelta: 0.1 });
      // 1.0 -> 0.95 improves by only 0.05.
      assert.equal(await drive(stopping, model, [1.0, 0.95, 0.5]), 2);
      assert.equal(stopping.stoppedEpoch, 1);
      assert.equal(stopping.bestEpoch, 0);
      assert.equal(stopping.best, 1.0);

      // 1.0 -> 0.85 improves by 0.15; then 0.8 only by 0.05: stop there.
      const again = new EarlyStoppingWithRestore({ ...article, minDelta: 0.1 });
      assert.equal(await drive(again, model, [1.0, 0.85, 0.8, 0.1]), 3);
      assert.equal(again.bestEpoch, 1);
      assert.equal(again.stoppedEpoch, 2);
    });

    it('a worse loss within minDelta is not an improvement either', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, minDelta: 0.1 });
      assert.equal(await drive(stopping, model, [1.0, 1.05, 0.1]), 2);
      assert.equal(stopping.best, 1.0);
    });

    it('restoreBestWeights puts the best epoch weights back at the end of training', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, restoreBestWeights: true });
      const tensorsBefore = tf.memory().numTensors;
      await drive(stopping, model, [0.9, 0.7, 0.8]);
      assert.equal(marker(model), 2, 'epoch 1 (marker 2) was best, epoch 2 (marker 3) ended training');
      assert.equal(stopping.restoredEpoch, 1);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'the kept copy of the best weights is released');
    });

    it('restoreBestWeights also restores when training ran to the last epoch (as Keras 3 does)', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, patience: 5, restoreBestWeights: true });
      assert.equal(await drive(stopping, model, [0.9, 0.5, 0.6, 0.7]), 4);
      assert.equal(marker(model), 2);
      assert.equal(stopping.restoredEpoch, 1);
    });

    it('the kept copy is independent of later weight updates', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, restoreBestWeights: true, patience: 3 });
      stopping.setModel(model);
      await stopping.onTrainBegin();
      setMarker(model, 10);
      await stopping.onEpochEnd(0, { val_loss: 0.5 });
      // An optimizer updates variables in place: assign new values to the same variables.
      model.getWeights().forEach((weight) => tf.tidy(() => (weight as tf.Variable).assign(tf.fill(weight.shape, -1))));
      await stopping.onEpochEnd(1, { val_loss: 0.6 });
      await stopping.onTrainEnd();
      assert.equal(marker(model), 10);
    });

    it('without restoreBestWeights the last weights stay (the article)', async () => {
      const stopping = new EarlyStoppingWithRestore(article);
      await drive(stopping, model, [0.9, 0.7, 0.8]);
      assert.equal(marker(model), 3);
      assert.equal(stopping.restoredEpoch, undefined);
    });

    it('a second training starts afresh (onTrainBegin resets best, wait and stop epoch)', async () => {
      const stopping = new EarlyStoppingWithRestore({ ...article, restoreBestWeights: true });
      await drive(stopping, model, [0.1, 0.2]);
      assert.equal(stopping.stoppedEpoch, 1);
      // Higher losses than the first run's best: still improvements in the new run.
      assert.equal(await drive(stopping, model, [0.9, 0.8, 0.7]), 3);
      assert.equal(stopping.stoppedEpoch, -1);
      assert.equal(stopping.bestEpoch, 2);
      assert.equal(stopping.best, 0.7);
      assert.equal(marker(model), 3);
    });

    it('a missing val_loss is a clear error naming the logs and the fix', async () => {
      const stopping = new EarlyStoppingWithRestore(article);
      stopping.setModel(model);
      await stopping.onTrainBegin();
      await assert.rejects(stopping.onEpochEnd(0, { loss: 0.5, acc: 0.8 }), {
        message: `"val_loss" is not in this epoch's logs (loss, acc); pass validation data to fit`,
      });
      await assert.rejects(
        stopping.onEpochEnd(0, undefined),
        /"val_loss" is not in this epoch's logs \(\); pass validation data to fit/,
      );
      await assert.rejects(stopping.onEpochEnd(0, { val_loss: NaN }), /"val_loss" is not in this epoch's logs/);
    });

    it('drives a real fit(): stops and restores inside tfjs training', async () => {
      const fitted = tinyModel();
      fitted.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
      const x = tf.tensor2d([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ]);
      const y = tf.tensor2d([[1], [2], [3], [4]]);
      // Validation targets that move away as the fit improves: val_loss rises after the first epoch.
      const validationY = tf.tensor2d([[-10], [-20], [-30], [-40]]);
      const stopping = new EarlyStoppingWithRestore({ ...article, restoreBestWeights: true });
      const afterEpochs: number[][] = [];
      const recorder = new tf.CustomCallback({
        onEpochEnd: async () => void afterEpochs.push(Array.from(fitted.getWeights()[0].dataSync())),
      });
      try {
        const history = await fitted.fit(x, y, {
          epochs: 10,
          batchSize: 4,
          validationData: [x, validationY],
          callbacks: [recorder, stopping],
          verbose: 0,
        });
        const losses = history.history.val_loss as number[];
        assert.equal(losses.length, 2, `val_loss ${losses.join(', ')}`);
        assert.ok(losses[1] >= losses[0]);
        assert.equal(stopping.stoppedEpoch, 1);
        assert.deepEqual(Array.from(fitted.getWeights()[0].dataSync()), afterEpochs[0], 'the epoch 0 weights are back');
        assert.notDeepEqual(afterEpochs[1], afterEpochs[0]);
      } finally {
        tf.dispose([x, y, validationY]);
        fitted.dispose();
      }
    });
  });

  describe('ReduceLearningRateOnPlateau', () => {
    const reduce = { monitor: 'val_loss', factor: 0.1, patience: 0, minLearningRate: 0 };

    async function run(
      callback: ReduceLearningRateOnPlateau,
      losses: number[],
      optimizer: tf.Optimizer,
    ): Promise<number[]> {
      await callback.onTrainBegin();
      const rates: number[] = [];
      for (const [epoch, loss] of losses.entries()) {
        await callback.onEpochEnd(epoch, { val_loss: loss });
        rates.push(getLearningRate(optimizer));
      }
      return rates;
    }

    function assertClose(actual: number[], expected: number[]): void {
      assert.equal(actual.length, expected.length);
      actual.forEach((value, index) =>
        assert.ok(
          Math.abs(value - expected[index]) <= 1e-12 * Math.max(1, expected[index]),
          `${actual} vs ${expected}`,
        ),
      );
    }

    it('patience 0: every epoch that is not better multiplies the rate by 0.1', async () => {
      const sgd = tf.train.sgd(1e-4);
      const callback = new ReduceLearningRateOnPlateau(sgd, reduce);
      assertClose(await run(callback, [1.0, 0.8, 0.9, 0.85, 0.7, 0.7], sgd), [1e-4, 1e-4, 1e-5, 1e-6, 1e-6, 1e-7]);
      assert.deepEqual(
        callback.changes.map((change) => change.epoch),
        [2, 3, 5],
      );
      assert.ok(Math.abs(callback.changes[0].from - 1e-4) < 1e-18 && Math.abs(callback.changes[0].to - 1e-5) < 1e-18);
      sgd.dispose();
    });

    it('patience 2: reduces after two bad epochs in a row, then counts again from zero', async () => {
      const sgd = tf.train.sgd(0.1);
      const callback = new ReduceLearningRateOnPlateau(sgd, { ...reduce, patience: 2 });
      // best 1.0; bad, bad -> 0.01; bad, bad -> 0.001; an improvement resets; bad -> no change yet.
      assertClose(
        await run(callback, [1.0, 1.1, 1.2, 1.3, 1.4, 0.5, 0.6], sgd),
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001],
      );
      assert.deepEqual(
        callback.changes.map((change) => change.epoch),
        [2, 4],
      );
      sgd.dispose();
    });

    it('never goes below minLearningRate', async () => {
      const sgd = tf.train.sgd(1e-4);
      const callback = new ReduceLearningRateOnPlateau(sgd, { ...reduce, minLearningRate: 5e-6 });
      assertClose(await run(callback, [1, 2, 3, 4, 5], sgd), [1e-4, 1e-5, 5e-6, 5e-6, 5e-6]);
      assert.equal(callback.changes.length, 2, 'no change is recorded once at the floor');
      sgd.dispose();
    });

    it('minDelta: smaller improvements count as a plateau', async () => {
      const sgd = tf.train.sgd(0.1);
      const callback = new ReduceLearningRateOnPlateau(sgd, { ...reduce, minDelta: 0.01 });
      assertClose(await run(callback, [1.0, 0.995, 0.9], sgd), [0.1, 0.01, 0.01]);
      sgd.dispose();
    });

    it('the reduced rate is the one SGD and Adam actually step with', async () => {
      for (const optimizer of [tf.train.sgd(0.5), tf.train.adam(0.5), tf.train.momentum(0.5, 0.9)]) {
        const callback = new ReduceLearningRateOnPlateau(optimizer, reduce);
        await run(callback, [1, 2], optimizer);
        assert.ok(Math.abs(getLearningRate(optimizer) - 0.05) < 1e-12);
        // d(v)/dv = 1: SGD and momentum's first step move v by exactly the rate, Adam's by the rate too (m / sqrt(v) = 1).
        const v = tf.variable(tf.scalar(1));
        optimizer.minimize(() => v.mul(1) as tf.Scalar);
        const moved = 1 - v.dataSync()[0];
        assert.ok(
          Math.abs(moved - 0.05) < 1e-4,
          `${optimizer.getClassName()} moved by ${moved}, expected the reduced rate 0.05`,
        );
        v.dispose();
        optimizer.dispose();
      }
    });

    it('setLearningRate releases the old rate tensor (no leak per reduction)', () => {
      const sgd = tf.train.sgd(0.1);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) setLearningRate(sgd, 0.1 / 2 ** i);
      assert.equal(tf.memory().numTensors, before);
      sgd.dispose();
    });

    it('a missing val_loss is the same clear error', async () => {
      const sgd = tf.train.sgd(0.1);
      const callback = new ReduceLearningRateOnPlateau(sgd, reduce);
      await assert.rejects(
        callback.onEpochEnd(0, { loss: 1 }),
        /"val_loss" is not in this epoch's logs \(loss\); pass validation data to fit/,
      );
      sgd.dispose();
    });
  });
});
