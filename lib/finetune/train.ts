/**
 * Stage 2 of Keras' transfer-learning recipe: the unfrozen block (BN folded, so in inference mode)
 * and the head trained together at a low learning rate on the cached block inputs. A custom loop
 * (optimizer.minimize over the block's variables and the head's), because the block is not a
 * LayersModel: per-epoch seeded shuffle, steps_per_epoch = n // batch as in notebook 03, validation
 * loss after every epoch, early stopping with restore-best and ReduceLROnPlateau by Keras' rules.
 */
import * as tf from '@tensorflow/tfjs';
import { UserFacingError } from '../core/errors';
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import { createRandom, shuffled } from '../core/random';
import { featureLength } from '../core/contracts';
import { getLearningRate, setLearningRate } from '../head/callbacks';
import { batchesPerEpoch, createOptimizer, EpochLog, oneHot, TrainingHooks, TrainingResult } from '../head/train';
import { blockForward, blockLayout, TrainableBlock } from './block';
import { BlockInputSet, batchTensor } from './blockInputs';

export interface FinetuneSettings {
  optimizer: 'adam' | 'momentum' | 'sgd';
  learningRate: number;
  momentum: number;
  batchSize: number;
  epochs: number;
  seed: number;
  /** Early stopping on val_loss: patience, min delta, restore the best epoch's weights. */
  patience: number;
  minDelta: number;
  restoreBestWeights: boolean;
  /** ReduceLROnPlateau on val_loss. */
  reduceFactor: number;
  reducePatience: number;
}

export function checkFinetuneSettings(settings: FinetuneSettings): void {
  if (!(
    typeof settings.learningRate === 'number' &&
    settings.learningRate > 0 &&
    Number.isFinite(settings.learningRate)
  ))
    throw new UserFacingError(`finetune.learningRate must be a positive number, got ${String(settings.learningRate)}`);
  if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1)
    throw new UserFacingError(`finetune.batchSize must be a positive whole number, got ${String(settings.batchSize)}`);
  if (!Number.isInteger(settings.epochs) || settings.epochs < 0)
    throw new UserFacingError(`finetune.epochs must be a whole number, got ${String(settings.epochs)}`);
}

/** Pooled conv5_block3_out of a block output: global average pooling, as the article's model. */
function pooled(block: TrainableBlock, input: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(blockForward(block, input), [1, 2]) as tf.Tensor2D;
}

/** The fine-tuned model's pooled features of a whole set (n x 2048), in batches, leak-free. */
export async function blockFeatures(block: TrainableBlock, set: BlockInputSet, batchSize = 32): Promise<Float32Array> {
  const shape = blockLayout[block.name].inputShape;
  const out = new Float32Array(set.labels.length * featureLength);
  for (let start = 0; start < set.labels.length; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, set.labels.length - start) }, (_, i) => start + i);
    const features = tf.tidy(() => pooled(block, batchTensor(set, rows, shape)));
    out.set((await features.data()) as Float32Array, start * featureLength);
    features.dispose();
  }
  return out;
}

/** Loss and accuracy of block + head on a set (validation after each epoch). */
async function evaluateSet(
  block: TrainableBlock,
  head: tf.LayersModel,
  set: BlockInputSet,
  batchSize: number,
): Promise<{ loss: number; accuracy: number }> {
  const features = await blockFeatures(block, set, batchSize);
  const classCount = head.outputs[0].shape[1] as number;
  return tf.tidy(() => {
    const probabilities = head.predict(tf.tensor2d(features, [set.labels.length, featureLength])) as tf.Tensor2D;
    const y = oneHot(set.labels, classCount);
    return {
      loss: tf.metrics.categoricalCrossentropy(y, probabilities).mean().dataSync()[0],
      accuracy: tf.metrics.categoricalAccuracy(y, probabilities).mean().dataSync()[0],
    };
  });
}

/** Trains block and head in place; with restore-best they end with the best epoch's weights. */
/** Fine-tunes block and head together; an interrupt stops it after the current batch. */
export function finetuneBlock(
  block: TrainableBlock,
  head: tf.LayersModel,
  train: BlockInputSet,
  validation: BlockInputSet,
  settings: FinetuneSettings,
  hooks: TrainingHooks = {},
): Promise<TrainingResult> {
  return interruptible((signal) => finetuneLoop(block, head, { train, validation }, settings, hooks, signal), {
    signal: hooks.signal,
    finished: 'fine-tuning',
  });
}

async function finetuneLoop(
  block: TrainableBlock,
  head: tf.LayersModel,
  { train, validation }: { train: BlockInputSet; validation: BlockInputSet },
  settings: FinetuneSettings,
  hooks: TrainingHooks,
  signal: AbortSignal,
): Promise<TrainingResult> {
  checkFinetuneSettings(settings);
  if (train.labels.length === 0 || validation.labels.length === 0)
    throw new UserFacingError('fine-tuning needs training and validation images');
  const shape = blockLayout[block.name].inputShape;
  const classCount = head.outputs[0].shape[1] as number;
  const variables = [...block.variables, ...head.trainableWeights.map((weight) => weight.read() as tf.Variable)];
  const optimizer = createOptimizer(settings);
  const steps = batchesPerEpoch(train.labels.length, settings.batchSize);
  const random = createRandom(settings.seed + 2);
  const history: EpochLog[] = [];
  const changes: TrainingResult['learningRateChanges'] = [];
  const started = Date.now();
  let best = Infinity;
  let bestEpoch = -1;
  let wait = 0;
  let reduceBest = Infinity;
  let reduceWait = 0;
  let stoppedAtEpoch: number | undefined;
  let bestWeights: tf.Tensor[] | undefined;
  const release = () => {
    if (bestWeights) tf.dispose(bestWeights);
    bestWeights = undefined;
  };
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const epochStarted = Date.now();
      const learningRate = getLearningRate(optimizer);
      const order = shuffled(
        train.labels.map((_, index) => index),
        random,
      );
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let step = 0; step < steps; step++) {
        const rows = order.slice(step * settings.batchSize, (step + 1) * settings.batchSize);
        const [loss, hits] = tf.tidy(() => {
          const x = batchTensor(train, rows, shape);
          const y = oneHot(
            rows.map((row) => train.labels[row]),
            classCount,
          );
          let predictions: tf.Tensor2D | undefined;
          const batchLoss = optimizer.minimize(
            () => {
              // Kept past minimize (which frees the forward pass) for the batch accuracy.
              predictions = tf.keep(head.apply(pooled(block, x), { training: true }) as tf.Tensor2D);
              return tf.metrics.categoricalCrossentropy(y, predictions).mean() as tf.Scalar;
            },
            true,
            variables,
          )!;
          const accuracy = tf.sum(tf.metrics.categoricalAccuracy(y, predictions!));
          predictions!.dispose();
          return [batchLoss.dataSync()[0], accuracy.dataSync()[0]];
        });
        lossSum += loss * rows.length;
        correct += hits;
        seen += rows.length;
        hooks.onBatchEnd?.(history.length, step, steps);
        await tf.nextFrame();
        stopIfInterrupted(signal, () => `fine-tuning interrupted after epoch ${history.length} of ${settings.epochs}`);
      }
      const scores = await evaluateSet(block, head, validation, settings.batchSize);
      history.push({
        epoch,
        loss: lossSum / seen,
        accuracy: correct / seen,
        validationLoss: scores.loss,
        validationAccuracy: scores.accuracy,
        learningRate,
        seconds: (Date.now() - epochStarted) / 1000,
      });
      await hooks.onEpochEnd?.(history);
      // ReduceLROnPlateau (Keras): after `reducePatience` epochs without improvement.
      if (scores.loss < reduceBest) {
        reduceBest = scores.loss;
        reduceWait = 0;
      } else if (++reduceWait >= settings.reducePatience) {
        const to = learningRate * settings.reduceFactor;
        if (to < learningRate) {
          setLearningRate(optimizer, to);
          changes.push({ epoch, from: learningRate, to });
        }
        reduceWait = 0;
      }
      // EarlyStopping (Keras, mode min): improvement means better by more than minDelta.
      if (scores.loss < best - settings.minDelta) {
        best = scores.loss;
        bestEpoch = epoch;
        wait = 0;
        if (settings.restoreBestWeights) {
          release();
          bestWeights = variables.map((variable) => variable.clone());
        }
      } else if (++wait >= settings.patience) {
        stoppedAtEpoch = epoch;
        break;
      }
    }
    if (settings.restoreBestWeights && bestWeights && bestEpoch !== history.length)
      variables.forEach((variable, index) => variable.assign(bestWeights![index]));
  } finally {
    release();
    optimizer.dispose();
  }
  return {
    history,
    stoppedAtEpoch,
    restoredEpoch: settings.restoreBestWeights && bestEpoch > 0 ? bestEpoch : undefined,
    learningRateChanges: changes,
    batchesPerEpoch: steps,
    seconds: (Date.now() - started) / 1000,
  };
}
