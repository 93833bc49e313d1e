/**
 * The hyperparameter study: a grid of head recipes on the cached features, each over several init
 * seeds, ranked by mean validation loss. Test metrics are recorded for every trial and shown, never
 * used for ranking. outputs/study.json is rewritten atomically after each trial, and a re-run skips
 * the trials it already holds (same data, settings and seed). Ensembles of k heads are scored from
 * the seed trials themselves (mean of their probabilities): no extra training.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { writeJsonAtomicSync } from '../core/atomic';
import { checkTrainingSettings, Config, OptimizerName } from '../core/config';
import { outputPaths } from '../core/paths';
import { FeatureSet } from '../core/contracts';
import { UserFacingError } from '../core/errors';
import { interruptible, InterruptedError } from '../core/interrupt';
import { rocAuc } from '../evaluate/ranking';
import { trainOneHead } from '../head/ensemble';
import { evaluateHead, predictHead } from '../head/predict';

/** What the study varies; every combination is one setting, trained once per init seed. */
export interface StudyGrid {
  /** Learning rates per optimizer (sgd, momentum, adam). */
  learningRates: Partial<Record<OptimizerName, number[]>>;
  /** Each list is crossed with the learning rates; absent means the config's value. */
  dropout?: number[];
  weightDecay?: number[];
  headHiddenUnits?: number[][];
  earlyStoppingPatience?: number[];
  /** Init seeds of every setting (several, so that the ranking is not one lucky draw). */
  initSeeds: number[];
  /** Ensemble sizes scored from the first k seeds' probabilities (1 = single heads only). */
  ensembleSizes: number[];
}

export const defaultStudyGrid: StudyGrid = {
  learningRates: { adam: [3e-4, 1e-3], momentum: [1e-2] },
  initSeeds: [42, 43, 44],
  ensembleSizes: [3],
};

/** The settings one trial changes from the config. */
export interface TrialSettings {
  optimizer: OptimizerName;
  learningRate: number;
  dropout: number;
  weightDecay: number;
  headHiddenUnits: number[];
  earlyStoppingPatience: number;
}

export interface Scores {
  loss: number;
  accuracy: number;
  auc: number;
}

export interface StudyTrial {
  settings: TrialSettings;
  seed: number;
  epochsRun: number;
  restoredEpoch?: number;
  seconds: number;
  validation: Scores;
  /** Recorded for the report; the ranking never reads it. */
  test: Scores;
  /** Positive-class probabilities, rounded, so that ensembles can be scored without training. */
  validationProbabilities: number[];
  testProbabilities: number[];
}

export interface StudyFile {
  version: 1;
  /** Fingerprint of the feature sets: trials of other data are never mixed in. */
  dataKey: string;
  data: { train: number; validation: number; test: number; positiveClass: number };
  /** Class indices of the validation and test images, in the order of the stored probabilities. */
  labels: { validation: number[]; test: number[] };
  base: Record<string, unknown>;
  grid: StudyGrid;
  trials: StudyTrial[];
}

export type StudySets = { train: FeatureSet; validation: FeatureSet; test: FeatureSet };

/** Every setting of the grid (checked before any work: a setting that cannot train is named). */
export function expandGrid(grid: StudyGrid, config: Config): TrialSettings[] {
  const optimizers = Object.keys(grid.learningRates ?? {}) as OptimizerName[];
  if (optimizers.length === 0) throw new UserFacingError('study: learningRates must name at least one optimizer');
  if (!Array.isArray(grid.initSeeds) || grid.initSeeds.length === 0 || !grid.initSeeds.every(Number.isInteger))
    throw new UserFacingError('study: initSeeds must list at least one whole-number seed');
  const sizes = grid.ensembleSizes ?? [];
  if (!sizes.every((size) => Number.isInteger(size) && size >= 1 && size <= grid.initSeeds.length))
    throw new UserFacingError(
      `study: ensembleSizes must be whole numbers from 1 to the number of initSeeds (${grid.initSeeds.length}), got ${JSON.stringify(sizes)}`,
    );
  const list: TrialSettings[] = [];
  for (const optimizer of optimizers) {
    const rates = grid.learningRates[optimizer];
    if (!Array.isArray(rates) || rates.length === 0)
      throw new UserFacingError(`study: learningRates.${optimizer} must list at least one learning rate`);
    for (const learningRate of rates)
      for (const dropout of grid.dropout ?? [config.dropout])
        for (const weightDecay of grid.weightDecay ?? [config.weightDecay])
          for (const headHiddenUnits of grid.headHiddenUnits ?? [config.headHiddenUnits])
            for (const earlyStoppingPatience of grid.earlyStoppingPatience ?? [config.earlyStopping.patience])
              list.push({ optimizer, learningRate, dropout, weightDecay, headHiddenUnits, earlyStoppingPatience });
  }
  for (const settings of list)
    checkTrainingSettings(trialConfig(config, settings, 1), `study setting ${settingsLabel(settings)}`);
  return list;
}

/** The config of one trial: the base config with the trial's settings, one head. */
function trialConfig(config: Config, settings: TrialSettings, seed: number): Config {
  const { earlyStoppingPatience, ...rest } = settings;
  return {
    ...config,
    ...rest,
    ensembleSize: 1,
    seed,
    earlyStopping: { ...config.earlyStopping, patience: earlyStoppingPatience },
  };
}

function settingsLabel(settings: TrialSettings): string {
  const parts = [`${settings.optimizer} ${settings.learningRate}`];
  if (settings.dropout) parts.push(`dropout ${settings.dropout}`);
  if (settings.weightDecay) parts.push(`L2 ${settings.weightDecay}`);
  parts.push(`[${settings.headHiddenUnits.join(',')}]`, `patience ${settings.earlyStoppingPatience}`);
  return parts.join(', ');
}

const settingsKey = (settings: TrialSettings) => JSON.stringify(settings, Object.keys(settings).sort());

function dataKey(sets: StudySets): string {
  const hash = crypto.createHash('sha1');
  for (const set of [sets.train, sets.validation, sets.test]) {
    hash.update(Buffer.from(set.features.buffer, set.features.byteOffset, set.features.byteLength));
    hash.update(JSON.stringify(set.labels));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Cross-entropy, accuracy (argmax) and AUC of positive-class probabilities. */
export function scoreProbabilities(
  positive: readonly number[],
  labels: readonly number[],
  positiveClass: number,
): Scores {
  let loss = 0;
  let correct = 0;
  positive.forEach((p, i) => {
    const isPositive = labels[i] === positiveClass;
    // Keras clips probabilities to [1e-7, 1 - 1e-7] in categorical cross-entropy.
    loss -= Math.log(Math.min(1 - 1e-7, Math.max(1e-7, isPositive ? p : 1 - p)));
    if (p >= 0.5 === isPositive) correct++;
  });
  const auc = rocAuc(labels as number[], positive as number[], { positiveClass });
  return { loss: loss / labels.length, accuracy: correct / labels.length, auc };
}

/** Reads outputs/study.json when it holds trials of the same data; otherwise a fresh study. */
function openStudy(file: string, sets: StudySets, config: Config, grid: StudyGrid, positiveClass: number): StudyFile {
  const key = dataKey(sets);
  const base = {
    recipe: config.recipe,
    batchSize: config.batchSize,
    epochs: config.epochs,
    earlyStopping: config.earlyStopping,
    reduceLearningRate: config.reduceLearningRate,
  };
  const fresh: StudyFile = {
    version: 1,
    dataKey: key,
    data: {
      train: sets.train.labels.length,
      validation: sets.validation.labels.length,
      test: sets.test.labels.length,
      positiveClass,
    },
    labels: { validation: sets.validation.labels, test: sets.test.labels },
    base,
    grid,
    trials: [],
  };
  if (!fs.existsSync(file)) return fresh;
  let saved: StudyFile;
  try {
    saved = JSON.parse(fs.readFileSync(file, 'utf8')) as StudyFile;
  } catch (error) {
    throw new UserFacingError(
      `${file} cannot be read (${(error as Error).message}); delete it to start the study again`,
    );
  }
  if (saved.version !== 1 || saved.dataKey !== key || JSON.stringify(saved.base) !== JSON.stringify(base)) return fresh;
  return { ...saved, grid };
}

export interface StudyProgress {
  /** After every trial (finished or reused), with the study so far. */
  onTrial?: (study: StudyFile, done: number, total: number, trial: StudyTrial, reused: boolean) => void | Promise<void>;
}

const round = (value: number) => Math.round(value * 1e6) / 1e6;

/** Runs the grid: every setting x seed not already in the study file, saving after each trial. */
export async function runStudy(
  config: Config,
  sets: StudySets,
  grid: StudyGrid,
  options: StudyProgress & { positiveClass?: number; file?: string; signal?: AbortSignal } = {},
): Promise<StudyFile> {
  const positiveClass = options.positiveClass ?? 0;
  const settingsList = expandGrid(grid, config);
  const file = options.file ?? outputPaths(config).study;
  const study = openStudy(file, sets, config, grid, positiveClass);
  const total = settingsList.length * grid.initSeeds.length;
  let done = 0;
  const interrupted = (error: unknown) =>
    error instanceof InterruptedError
      ? new InterruptedError(
          `study interrupted in trial ${done + 1} of ${total} (${error.message}); ` +
            (study.trials.length
              ? `the ${study.trials.length} finished trials are saved in ${file}`
              : 'no trial had finished'),
        )
      : error;
  await interruptible((signal) => runTrials(signal).catch((error: unknown) => Promise.reject(interrupted(error))), {
    signal: options.signal,
    finished: 'the study',
  });
  writeJsonAtomicSync(file, study);
  return study;

  async function runTrials(signal: AbortSignal): Promise<void> {
    for (const settings of settingsList) {
      for (const seed of grid.initSeeds) {
        const existing = study.trials.find(
          (trial) => trial.seed === seed && settingsKey(trial.settings) === settingsKey(settings),
        );
        if (existing) {
          await options.onTrial?.(study, ++done, total, existing, true);
          continue;
        }
        const recipe = trialConfig(config, settings, seed);
        const { head, result } = await trainOneHead(recipe, seed, sets, { hooks: { signal: signal } });
        let trial: StudyTrial;
        try {
          const positive = (set: FeatureSet) => predictHead(head, set.features).map((row) => round(row[positiveClass]));
          const validationProbabilities = positive(sets.validation);
          const testProbabilities = positive(sets.test);
          const scores = (set: FeatureSet, probabilities: number[]) => ({
            ...scoreProbabilities(probabilities, set.labels, positiveClass),
            // Keras' evaluate on the head itself, so the loss is the one training saw (not rounded).
            loss: evaluateHead(head, set).loss,
          });
          trial = {
            settings,
            seed,
            epochsRun: result.history.length,
            restoredEpoch: result.restoredEpoch,
            seconds: result.seconds,
            validation: scores(sets.validation, validationProbabilities),
            test: scores(sets.test, testProbabilities),
            validationProbabilities,
            testProbabilities,
          };
        } finally {
          head.dispose();
        }
        study.trials.push(trial);
        writeJsonAtomicSync(file, study);
        await options.onTrial?.(study, ++done, total, trial, false);
      }
    }
  }
}

export interface RankedSetting {
  label: string;
  settings: TrialSettings;
  /** 1 = single heads (mean ± sd over seeds); k > 1 = the mean of the first k seeds' probabilities. */
  ensembleSize: number;
  seeds: number[];
  validationLoss: { mean: number; sd: number };
  validationAccuracy: { mean: number; sd: number };
  test: { loss: number; accuracy: number; auc: number };
  epochs: number;
  seconds: number;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const sd = (values: number[]) => {
  const m = mean(values);
  return values.length < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
};

/** Settings (and ensembles) ranked by mean validation loss; test numbers come along, unused. */
export function rankStudy(study: StudyFile): RankedSetting[] {
  const groups = new Map<string, StudyTrial[]>();
  for (const trial of study.trials) {
    const key = settingsKey(trial.settings);
    groups.set(key, [...(groups.get(key) ?? []), trial]);
  }
  const rows: RankedSetting[] = [];
  const { positiveClass } = study.data;
  for (const trials of groups.values()) {
    trials.sort((a, b) => a.seed - b.seed);
    const settings = trials[0].settings;
    const label = settingsLabel(settings);
    const common = {
      settings,
      epochs: mean(trials.map((t) => t.epochsRun)),
      seconds: mean(trials.map((t) => t.seconds)),
    };
    rows.push({
      ...common,
      label,
      ensembleSize: 1,
      seeds: trials.map((t) => t.seed),
      validationLoss: {
        mean: mean(trials.map((t) => t.validation.loss)),
        sd: sd(trials.map((t) => t.validation.loss)),
      },
      validationAccuracy: {
        mean: mean(trials.map((t) => t.validation.accuracy)),
        sd: sd(trials.map((t) => t.validation.accuracy)),
      },
      test: {
        loss: mean(trials.map((t) => t.test.loss)),
        accuracy: mean(trials.map((t) => t.test.accuracy)),
        auc: mean(trials.map((t) => t.test.auc)),
      },
    });
    for (const size of study.grid.ensembleSizes ?? []) {
      if (size < 2 || trials.length < size) continue;
      const members = trials.slice(0, size);
      const averaged = (pick: (t: StudyTrial) => number[]) =>
        pick(members[0]).map((_, i) => mean(members.map((m) => pick(m)[i])));
      const validation = scoreProbabilities(
        averaged((t) => t.validationProbabilities),
        study.labels.validation,
        positiveClass,
      );
      const test = scoreProbabilities(
        averaged((t) => t.testProbabilities),
        study.labels.test,
        positiveClass,
      );
      rows.push({
        ...common,
        label: `${label}, ensemble of ${size}`,
        ensembleSize: size,
        seeds: members.map((t) => t.seed),
        validationLoss: { mean: validation.loss, sd: 0 },
        validationAccuracy: { mean: validation.accuracy, sd: 0 },
        test,
        seconds: common.seconds * size,
      });
    }
  }
  return rows.sort((a, b) => a.validationLoss.mean - b.validationLoss.mean);
}
