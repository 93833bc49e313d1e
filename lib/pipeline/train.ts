/**
 * Step 3 of the article: a new head trained on the frozen features, saved with what is needed to
 * use it again (class names, positive class, backbone weights, settings).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { positiveClassIndex } from '../core/classes';
import { Config } from '../core/config';
import { outputPaths } from '../core/paths';
import { fileDigest } from '../core/provenance';
import { FeatureSet, imageSize } from '../core/contracts';
import { withInterruptDetail } from '../core/interrupt';
import { preprocessingName } from '../core/preprocessing';
import { weightsFingerprint, WeightsPaths } from '../backbone/weights';
import { memberSeeds, trainHeads } from '../head/ensemble';
import { readModelInfo, saveHead, SavedModelInfo } from '../head/modelStore';
import { TrainingHooks, TrainingResult } from '../head/train';
import { saveFigure } from '../view/display';
import { formatLearningRate, historyCharts, liveTrainingView } from '../view/trainingView';
import { describeTime } from './freshness';

export interface TrainedModel {
  /** One model: the head, or the ensemble of heads (mean of their probabilities). */
  head: tf.LayersModel;
  /** The first head's training (the only one unless config.ensembleSize > 1). */
  result: TrainingResult;
  /** Every head's training, in seed order. */
  members: TrainingResult[];
}

/**
 * Builds the head(s) of config.headHiddenUnits and trains them with the config's recipe, live
 * charts in view: config.ensembleSize heads with init seeds seed, seed+1, ..., averaged as one model.
 */
export async function trainModel(
  config: Config,
  sets: { train: FeatureSet; validation: FeatureSet },
  title = `recipe "${config.recipe}"`,
  classCount = 2,
): Promise<TrainedModel> {
  const views: (TrainingHooks & { finish(): void })[] = [];
  const count = config.ensembleSize;
  try {
    const train = () =>
      trainHeads(config, sets, {
        classCount,
        hooksFor: (member, seed) => {
          views[member - 1]?.finish();
          const name = count > 1 ? `${title}, head ${member + 1} of ${count} (seed ${seed})` : title;
          views.push(liveTrainingView(name, config.epochs));
          return views[member];
        },
      });
    // Nothing is saved here (saveModel is a step of its own), so the model on disk is untouched.
    const trained = await withInterruptDetail(train, '; the saved model is unchanged');
    return { head: trained.head, result: trained.members[0], members: trained.members };
  } finally {
    views[views.length - 1]?.finish();
  }
}

/** One line: how training ended (early stop, rate changes, restored epoch) and how long it took. */
export function describeTraining(result: TrainingResult): string {
  const ran = result.stoppedAtEpoch
    ? `early stopping ended training after epoch ${result.stoppedAtEpoch}`
    : `ran all ${result.history.length} epochs`;
  const rates = result.learningRateChanges.map(
    (change) =>
      `learning rate ${formatLearningRate(change.from)} -> ${formatLearningRate(change.to)} after epoch ${change.epoch}`,
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

function savedInfo(folder: string): SavedModelInfo | undefined {
  try {
    return readModelInfo(folder);
  } catch {
    return undefined; // no model there, or an incomplete one: nothing worth keeping
  }
}

/**
 * Before a new model is saved: the model it replaces goes to outputs/model.previous/, unless the
 * one already there scored better on validation (same split), which then stays. When the kept
 * model's validation loss is lower than the new one's, one line says so and how to restore it.
 */
function keepPreviousModel(config: Config, split: string | undefined, validationLoss: number | undefined): string[] {
  const paths = outputPaths(config);
  const current = savedInfo(paths.model);
  const previous = savedInfo(paths.previousModel);
  const loss = (info: SavedModelInfo | undefined) =>
    info && info.split === split && typeof info.validationLoss === 'number' ? info.validationLoss : Infinity;
  const keepOlder = previous !== undefined && loss(previous) < loss(current);
  if (current && !keepOlder) {
    fs.rmSync(paths.previousModel, { recursive: true, force: true });
    fs.renameSync(paths.model, paths.previousModel);
  } else {
    fs.rmSync(paths.model, { recursive: true, force: true });
  }
  const kept = keepOlder ? previous : current;
  const keptLoss = loss(kept);
  if (!kept || validationLoss === undefined || !(keptLoss < validationLoss)) return [];
  return [
    `warning: the model saved before (trained at ${describeTime(kept.trainedAt)}) had a lower validation loss ` +
      `(${keptLoss.toFixed(4)}) than this one (${validationLoss.toFixed(4)}); it is kept in ` +
      `${paths.previousModel} (restorePreviousModel(config) puts it back)`,
  ];
}

/**
 * Saves the head to outputs/model with its classes (positive class found by name), settings, the
 * split it was trained on and its validation loss; the model it replaces is kept (keepPreviousModel).
 */
export async function saveModel(
  config: Config,
  head: tf.LayersModel,
  classNames: string[],
  weights: WeightsPaths,
  validationLoss?: number,
  log: (line: string) => void = console.log,
): Promise<string> {
  const folder = outputPaths(config).model;
  const settingNames = ['recipe', 'optimizer', 'learningRate', 'batchSize', 'epochs', 'headHiddenUnits'] as const;
  const moreSettings = ['earlyStopping', 'reduceLearningRate', 'seed', 'dropout', 'weightDecay'] as const;
  const settings: Record<string, unknown> = Object.fromEntries(
    [...settingNames, ...moreSettings, 'ensembleSize' as const].map((name) => [name, config[name]]),
  );
  settings.memberSeeds = memberSeeds(config);
  const split = fileDigest(outputPaths(config).split);
  keepPreviousModel(config, split, validationLoss).forEach((line) => log(line));
  await saveHead(folder, head, {
    classNames,
    positiveClass: positiveClassIndex(classNames),
    weightsFingerprint: weightsFingerprint(weights),
    preprocessing: preprocessingName(config.preprocessing),
    preprocessingSettings: config.preprocessing,
    imageSize,
    trainedAt: new Date().toISOString(),
    ...(split ? { split } : {}),
    ...(validationLoss !== undefined ? { validationLoss } : {}),
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
