/**
 * Keras callbacks that tfjs lacks or only half implements: EarlyStopping with restore-best-weights
 * (tfjs throws NotImplementedError) and ReduceLROnPlateau (absent). Both follow Keras' rules.
 */
import * as tf from '@tensorflow/tfjs';

type Logs = Record<string, number>;

function monitored(logs: Logs | undefined, monitor: string): number {
  const value = logs?.[monitor];
  if (value === undefined || Number.isNaN(value)) {
    throw new Error(
      `"${monitor}" is not in this epoch's logs (${Object.keys(logs ?? {}).join(', ')}); pass validation data to fit`,
    );
  }
  return value;
}

export interface EarlyStoppingOptions {
  monitor: string;
  minDelta: number;
  patience: number;
  restoreBestWeights: boolean;
}

/**
 * Stops when `monitor` (a loss: lower is better) has not improved by more than minDelta for
 * `patience` epochs after the best one (patience 0: the first epoch that is not better stops).
 * With restoreBestWeights the best epoch's weights are put back at the end, as in current Keras.
 */
export class EarlyStoppingWithRestore extends tf.Callback {
  best = Infinity;
  bestEpoch = -1;
  stoppedEpoch = -1;
  private wait = 0;
  private bestWeights: tf.Tensor[] | undefined;

  constructor(private readonly options: EarlyStoppingOptions) {
    super();
  }

  async onTrainBegin(): Promise<void> {
    this.best = Infinity;
    this.bestEpoch = -1;
    this.stoppedEpoch = -1;
    this.wait = 0;
    this.releaseBestWeights();
  }

  async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    const current = monitored(logs, this.options.monitor);
    // Keras (mode min): an improvement is current + min_delta < best, i.e. better by more than minDelta.
    if (current < this.best - this.options.minDelta) {
      this.best = current;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.options.restoreBestWeights) {
        this.releaseBestWeights();
        this.bestWeights = this.model.getWeights().map((weight) => weight.clone());
      }
      return;
    }
    this.wait++;
    if (this.wait >= this.options.patience) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
    }
  }

  async onTrainEnd(): Promise<void> {
    if (this.options.restoreBestWeights && this.bestWeights) this.model.setWeights(this.bestWeights);
    this.releaseBestWeights();
  }

  /** The epoch whose weights the model holds after training. */
  get restoredEpoch(): number | undefined {
    return this.options.restoreBestWeights && this.bestEpoch >= 0 ? this.bestEpoch : undefined;
  }

  private releaseBestWeights(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = undefined;
  }
}

export interface ReduceLearningRateOptions {
  monitor: string;
  factor: number;
  patience: number;
  minLearningRate: number;
  minDelta?: number;
}

/** Multiplies the learning rate by `factor` when `monitor` stops improving, like Keras' ReduceLROnPlateau. */
export class ReduceLearningRateOnPlateau extends tf.Callback {
  private best = Infinity;
  private wait = 0;
  readonly changes: { epoch: number; from: number; to: number }[] = [];

  constructor(
    private readonly optimizer: tf.Optimizer,
    private readonly options: ReduceLearningRateOptions,
  ) {
    super();
  }

  async onTrainBegin(): Promise<void> {
    this.best = Infinity;
    this.wait = 0;
  }

  async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    const current = monitored(logs, this.options.monitor);
    if (current < this.best - (this.options.minDelta ?? 0)) {
      this.best = current;
      this.wait = 0;
      return;
    }
    this.wait++;
    if (this.wait >= this.options.patience) {
      const from = getLearningRate(this.optimizer);
      const to = Math.max(from * this.options.factor, this.options.minLearningRate);
      if (to < from) {
        setLearningRate(this.optimizer, to);
        this.changes.push({ epoch, from, to });
      }
      this.wait = 0;
    }
  }
}

export function getLearningRate(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}

/** SGD and momentum cache the rate in a tensor (setLearningRate updates it); Adam reads the field each step. */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const withSetter = optimizer as unknown as { setLearningRate?: (rate: number) => void; learningRate: number };
  if (typeof withSetter.setLearningRate === 'function') withSetter.setLearningRate(learningRate);
  else withSetter.learningRate = learningRate;
}
