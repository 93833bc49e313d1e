/**
 * Step 3 of the article: a new head trained on the frozen features, saved with what is needed to
 * use it again (class names, positive class, backbone weights, settings).
 */
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { positiveClassIndex } from '../core/classes';
import { Config, outputPaths } from '../core/config';
import { FeatureSet, imageSize } from '../core/contracts';
import { preprocessingVersion } from '../backbone/featureCache';
import { weightsFingerprint, WeightsPaths } from '../backbone/weights';
import { buildHead } from '../head/head';
import { saveHead } from '../head/modelStore';
import { trainHead, TrainingHooks, TrainingResult } from '../head/train';
import { saveFigure } from '../view/display';
import { historyCharts, liveTrainingView } from '../view/trainingView';

export interface TrainedModel {
  head: tf.LayersModel;
  result: TrainingResult;
}

/** Builds the head of config.headHiddenUnits and trains it with the config's recipe, live charts in view. */
export async function trainModel(
  config: Config,
  sets: { train: FeatureSet; validation: FeatureSet },
  title = `recipe "${config.recipe}"`,
  classCount = 2,
): Promise<TrainedModel> {
  const head = buildHead({ hiddenUnits: config.headHiddenUnits, classCount, seed: config.seed });
  const view: TrainingHooks & { finish(): void } = liveTrainingView(title, config.epochs);
  try {
    const result = await trainHead(head, sets.train, sets.validation, config, view);
    return { head, result };
  } catch (error) {
    head.dispose();
    throw error;
  } finally {
    view.finish();
  }
}

/** One line: how training ended (early stop, rate changes, restored epoch) and how long it took. */
export function describeTraining(result: TrainingResult): string {
  const ran = result.stoppedAtEpoch
    ? `early stopping ended training after epoch ${result.stoppedAtEpoch}`
    : `ran all ${result.history.length} epochs`;
  const rates = result.learningRateChanges.map(
    (change) => `learning rate ${change.from} -> ${change.to} after epoch ${change.epoch}`,
  );
  const restored = result.restoredEpoch ? [`weights restored from epoch ${result.restoredEpoch}`] : [];
  const timing = `${result.batchesPerEpoch} batches per epoch, ${result.seconds.toFixed(1)} s`;
  return [ran, ...rates, ...restored, timing].join('; ');
}

/** The training curves of a run, saved as figures (training-loss, training-accuracy). */
export function saveTrainingFigures(config: Config, result: TrainingResult, title = `recipe "${config.recipe}"`): void {
  const charts = historyCharts(result.history, title);
  saveFigure(config, 'training-loss', charts.loss);
  saveFigure(config, 'training-accuracy', charts.accuracy);
}

/** Saves the head to outputs/model with its classes (positive class found by name) and settings. */
export async function saveModel(
  config: Config,
  head: tf.LayersModel,
  classNames: string[],
  weights: WeightsPaths,
): Promise<string> {
  const folder = outputPaths(config).model;
  const settingNames = ['recipe', 'optimizer', 'learningRate', 'batchSize', 'epochs', 'headHiddenUnits'] as const;
  const moreSettings = ['earlyStopping', 'reduceLearningRate', 'seed'] as const;
  const settings = Object.fromEntries([...settingNames, ...moreSettings].map((name) => [name, config[name]]));
  await saveHead(folder, head, {
    classNames,
    positiveClass: positiveClassIndex(classNames),
    weightsFingerprint: weightsFingerprint(weights),
    preprocessing: preprocessingVersion,
    imageSize,
    trainedAt: new Date().toISOString(),
    settings,
  });
  return folder;
}

/** outputs/training.json: every recipe trained in this run, with its history and settings. */
export function saveTrainingRuns(
  config: Config,
  backend: string,
  sets: { train: FeatureSet; validation: FeatureSet },
  runs: Record<string, { result: TrainingResult; settings: Record<string, unknown> }>,
): string {
  const file = outputPaths(config).training;
  writeJsonAtomicSync(file, {
    backend,
    recipe: config.recipe,
    data: { train: sets.train.labels.length, validation: sets.validation.labels.length },
    runs: Object.fromEntries(
      Object.entries(runs).map(([name, run]) => [name, { ...run.result, settings: run.settings }]),
    ),
  });
  return file;
}
