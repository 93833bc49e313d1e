/**
 * What training looks like: loss and accuracy curves (train and validation) per epoch, redrawn
 * live in a notebook after every epoch, and a batch counter while an epoch runs.
 */
import { lineChart } from './lineChart';
import { liveOutput } from './display';
import { createProgress } from './progress';
import type { EpochLog, TrainingHooks } from '../head/train';

/** `plannedEpochs` fixes the x axis, so a live chart does not rescale after every epoch. */
export function historyCharts(
  history: EpochLog[],
  title = 'Training',
  plannedEpochs = 0,
): { loss: Buffer; accuracy: Buffer } {
  const epochs = history.map((entry) => entry.epoch);
  const lastEpoch = Math.max(2, plannedEpochs, ...epochs);
  const chart = (metric: 'loss' | 'accuracy', train: number[], validation: number[]) =>
    lineChart({
      title: `${title}: ${metric} per epoch`,
      xLabel: 'epoch',
      yLabel: metric,
      integerXTicks: true,
      xDomain: [1, lastEpoch],
      yDomain: metric === 'accuracy' ? [0, 1] : undefined,
      width: 560,
      height: 360,
      series: [
        { name: `training ${metric}`, x: epochs, y: train },
        { name: `validation ${metric}`, x: epochs, y: validation, dashed: true },
      ],
    });
  return {
    loss: chart(
      'loss',
      history.map((entry) => entry.loss),
      history.map((entry) => entry.validationLoss),
    ),
    accuracy: chart(
      'accuracy',
      history.map((entry) => entry.accuracy),
      history.map((entry) => entry.validationAccuracy),
    ),
  };
}

/** Hooks for trainHead that keep two charts and a batch counter up to date in the notebook. */
export function liveTrainingView(title: string, epochs: number): TrainingHooks & { finish(): void } {
  const lossOutput = liveOutput();
  const accuracyOutput = liveOutput();
  let progress: ReturnType<typeof createProgress> | undefined;
  let batchesRun = 0;
  let planned = 0;
  let epochsRun = 0;
  return {
    onBatchEnd(epoch, batch, batchesPerEpoch) {
      planned = epochs * batchesPerEpoch;
      progress ??= createProgress(`${title} (${epochs} epochs)`, planned);
      batchesRun = epoch * batchesPerEpoch + batch + 1;
      progress.update(batchesRun, `epoch ${epoch + 1}`);
    },
    onEpochEnd(history) {
      const charts = historyCharts(history, title, epochs);
      lossOutput.png(charts.loss);
      accuracyOutput.png(charts.accuracy);
      const last = history[history.length - 1];
      epochsRun = last.epoch;
      console.log(
        `epoch ${last.epoch}: loss ${last.loss.toFixed(4)}, accuracy ${last.accuracy.toFixed(4)}, val_loss ` +
          `${last.validationLoss.toFixed(4)}, val_accuracy ${last.validationAccuracy.toFixed(4)}, lr ` +
          `${formatLearningRate(last.learningRate)}`,
      );
    },
    finish() {
      // Early stopping ends before the planned batches: the bar ends where training did.
      const stoppedEarly = batchesRun < planned;
      progress?.finish(stoppedEarly ? `stopped after epoch ${epochsRun} of ${epochs}` : undefined, batchesRun);
    },
  };
}

/** A learning rate without float noise: 0.00003, not 0.000029999999999999997. */
export function formatLearningRate(rate: number): string {
  return String(Number(rate.toPrecision(6)));
}
