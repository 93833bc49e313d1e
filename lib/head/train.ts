/**
 * Training the new head on cached backbone features with Keras-style fit(): SGD, categorical
 * cross-entropy, accuracy, validation data, early stopping and learning-rate reduction.
 * Seeded end to end (initialisation and per-epoch shuffling), so a run is reproducible.
 */
import * as tf from '@tensorflow/tfjs';
import { EarlyStoppingWithRestore, getLearningRate, ReduceLearningRateOnPlateau } from './callbacks';
import type { Config } from '../core/config';
import { createRandom, shuffled } from '../core/random';
import { featureLength } from '../core/contracts';
import type { FeatureSet } from '../core/contracts';
import { interruptible, stopIfInterrupted } from '../core/interrupt';

export interface EpochLog {
  epoch: number;
  loss: number;
  accuracy: number;
  validationLoss: number;
  validationAccuracy: number;
  learningRate: number;
  seconds: number;
}

export interface TrainingResult {
  history: EpochLog[];
  /** Epoch (1-based) at which early stopping ended training, if it did. */
  stoppedAtEpoch?: number;
  /** Epoch (1-based) whose weights the model holds, when restore-best-weights is on. */
  restoredEpoch?: number;
  learningRateChanges: { epoch: number; from: number; to: number }[];
  batchesPerEpoch: number;
  seconds: number;
}

export type TrainingSettings = Pick<
  Config,
  'optimizer' | 'learningRate' | 'momentum' | 'batchSize' | 'epochs' | 'seed' | 'earlyStopping' | 'reduceLearningRate'
>;

export interface TrainingHooks {
  /** Called after every epoch with the history so far (e.g. to redraw a live chart). */
  onEpochEnd?: (history: EpochLog[]) => void | Promise<void>;
  /** Called after every batch: batch index in the epoch, batches per epoch. */
  onBatchEnd?: (epoch: number, batch: number, batchesPerEpoch: number) => void;
  /** Stops training after the current batch (besides SIGINT, see core/interrupt). */
  signal?: AbortSignal;
}

type AnyCallback = tf.Callback | tf.CustomCallback;

/**
 * Hands a callback whole epochs only: an epoch cut short by an interrupt has no validation logs,
 * so early stopping, rate reduction and the history must not see it.
 */
class WholeEpochsOnly extends tf.Callback {
  constructor(
    private readonly inner: AnyCallback,
    private readonly signal: AbortSignal,
    private readonly first: boolean,
  ) {
    super();
  }
  override setModel(model: Parameters<tf.Callback['setModel']>[0]): void {
    super.setModel(model);
    this.inner.setModel(model);
  }
  override setParams(params: Parameters<tf.Callback['setParams']>[0]): void {
    super.setParams(params);
    this.inner.setParams(params);
  }
  override async onTrainBegin(logs?: tf.Logs): Promise<void> {
    await this.inner.onTrainBegin(logs);
  }
  override async onEpochBegin(epoch: number, logs?: tf.Logs): Promise<void> {
    await this.inner.onEpochBegin(epoch, logs);
  }
  override async onBatchEnd(batch: number, logs?: tf.Logs): Promise<void> {
    if (this.first) {
      // Let a pending SIGINT be handled, then stop after this batch: fitDataset disposes the
      // batch's tensors and ends the epoch (whose end the callbacks then skip).
      await new Promise((resolve) => setImmediate(resolve));
      if (this.signal.aborted) this.model.stopTraining = true;
    }
    await this.inner.onBatchEnd(batch, logs);
  }
  override async onEpochEnd(epoch: number, logs?: tf.Logs): Promise<void> {
    if (!this.signal.aborted) await this.inner.onEpochEnd(epoch, logs);
  }
  override async onTrainEnd(logs?: tf.Logs): Promise<void> {
    await this.inner.onTrainEnd(logs);
  }
}

/** tfjs' MomentumOptimizer.dispose() forgets the learning-rate tensor it inherits from SGD; this one frees it. */
class MomentumOptimizer extends tf.MomentumOptimizer {
  override dispose(): void {
    super.dispose();
    const { c } = this as unknown as { c?: tf.Tensor };
    if (c && !c.isDisposed) c.dispose();
  }
}

export function createOptimizer(settings: Pick<Config, 'optimizer' | 'learningRate' | 'momentum'>): tf.Optimizer {
  switch (settings.optimizer) {
    case 'sgd':
      return tf.train.sgd(settings.learningRate);
    case 'momentum':
      return new MomentumOptimizer(settings.learningRate, settings.momentum);
    case 'adam':
      return tf.train.adam(settings.learningRate);
    default:
      throw new Error(`unknown optimizer "${settings.optimizer as string}" (use sgd, momentum or adam)`);
  }
}

export function oneHot(labels: number[], classCount: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classCount).toFloat() as tf.Tensor2D);
}

function checkFeatureSet(name: string, set: FeatureSet): void {
  if (set.features.length !== set.labels.length * featureLength) {
    throw new Error(
      `${name}: ${set.features.length} feature values for ${set.labels.length} labels (expected ${featureLength} ` +
        `per image)`,
    );
  }
  if (set.labels.length === 0) throw new Error(`${name}: no images`);
}

/**
 * Article: steps_per_epoch = n // batch_size (the last partial batch is not used in an epoch);
 * a set smaller than one batch still trains one batch per epoch.
 */
export function batchesPerEpoch(imageCount: number, batchSize: number): number {
  return Math.max(1, Math.floor(imageCount / batchSize));
}

export async function trainHead(
  head: tf.LayersModel,
  train: FeatureSet,
  validation: FeatureSet,
  settings: TrainingSettings,
  hooks: TrainingHooks = {},
): Promise<TrainingResult> {
  return interruptible((signal) => fitHead(head, train, validation, settings, hooks, signal), {
    signal: hooks.signal,
    finished: 'training',
  });
}

async function fitHead(
  head: tf.LayersModel,
  train: FeatureSet,
  validation: FeatureSet,
  settings: TrainingSettings,
  hooks: TrainingHooks,
  signal: AbortSignal,
): Promise<TrainingResult> {
  checkFeatureSet('training set', train);
  checkFeatureSet('validation set', validation);
  const classCount = head.outputs[0].shape[1] as number;
  const optimizer = createOptimizer(settings);
  // tfjs frees on dispose() only optimizers it created from a name. This one belongs to the head
  // alone, so mark it owned: head.dispose() then frees its state (Adam's moments, SGD's rate
  // tensor), and training the same head again first frees the previous run's optimizer.
  const owned = head as unknown as { isOptimizerOwned?: boolean };
  if (head.optimizer && owned.isOptimizerOwned) head.optimizer.dispose();
  head.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  owned.isOptimizerOwned = true;

  const steps = batchesPerEpoch(train.labels.length, settings.batchSize);
  const random = createRandom(settings.seed + 1);
  // fitDataset with batchesPerEpoch keeps one iterator across epochs, so the generator never ends:
  // every `steps` batches it starts a fresh seeded shuffle (a new epoch). Batches are built on
  // demand and disposed by fitDataset.
  const batches = tf.data.generator(function* () {
    for (;;) {
      const order = shuffled(
        train.labels.map((_, index) => index),
        random,
      );
      for (let step = 0; step < steps; step++) {
        const indices = order.slice(step * settings.batchSize, (step + 1) * settings.batchSize);
        const features = new Float32Array(indices.length * featureLength);
        indices.forEach((image, row) =>
          features.set(
            train.features.subarray(image * featureLength, (image + 1) * featureLength),
            row * featureLength,
          ),
        );
        yield {
          xs: tf.tensor2d(features, [indices.length, featureLength]),
          ys: oneHot(
            indices.map((image) => train.labels[image]),
            classCount,
          ),
        };
      }
    }
  }) as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;

  const validationX = tf.tensor2d(validation.features, [validation.labels.length, featureLength]);
  const validationY = oneHot(validation.labels, classCount);
  const earlyStopping = new EarlyStoppingWithRestore(settings.earlyStopping);
  const reduceLearningRate = new ReduceLearningRateOnPlateau(optimizer, settings.reduceLearningRate);
  const history: EpochLog[] = [];
  const started = Date.now();
  let epochStarted = Date.now();
  let learningRateThisEpoch = settings.learningRate;

  const recorder = new tf.CustomCallback({
    onEpochBegin: async () => {
      epochStarted = Date.now();
      learningRateThisEpoch = getLearningRate(optimizer);
    },
    onBatchEnd: async (batch) => hooks.onBatchEnd?.(history.length, batch, steps),
    onEpochEnd: async (epoch, logs) => {
      history.push({
        epoch: epoch + 1,
        loss: logs!.loss,
        accuracy: logs!.acc,
        validationLoss: logs!.val_loss,
        validationAccuracy: logs!.val_acc,
        learningRate: learningRateThisEpoch,
        seconds: (Date.now() - epochStarted) / 1000,
      });
      await hooks.onEpochEnd?.(history);
    },
  });

  try {
    await head.fitDataset(batches, {
      epochs: settings.epochs,
      batchesPerEpoch: steps,
      validationData: [validationX, validationY],
      verbose: 0,
      // The recorder runs first so the history has the rate used in the epoch, before a reduction.
      callbacks: [recorder, earlyStopping, reduceLearningRate].map(
        (callback, index) => new WholeEpochsOnly(callback, signal, index === 0),
      ),
    });
  } finally {
    tf.dispose([validationX, validationY]);
  }
  stopIfInterrupted(signal, () => `training interrupted after epoch ${history.length} of ${settings.epochs}`);
  return {
    history,
    stoppedAtEpoch: earlyStopping.stoppedEpoch >= 0 ? earlyStopping.stoppedEpoch + 1 : undefined,
    restoredEpoch: earlyStopping.restoredEpoch !== undefined ? earlyStopping.restoredEpoch + 1 : undefined,
    learningRateChanges: reduceLearningRate.changes.map((change) => ({ ...change, epoch: change.epoch + 1 })),
    batchesPerEpoch: steps,
    seconds: (Date.now() - started) / 1000,
  };
}
