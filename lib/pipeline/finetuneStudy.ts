/**
 * How notebook 06's settings were chosen (`npm run finetune-study`): a few candidate settings
 * (learning rate, epochs, patience) fine-tune the head of outputs/model on the same split, ranked by
 * their best validation loss only; then the chosen setting is scored on the test images against the
 * head-only model, for the seed of outputs/model and for other init seeds (a new head ensemble with
 * init seeds s, s+1, ... trained on the cached features, then fine-tuned with shuffle seed s).
 * Everything is written to outputs/finetune/study.json after each run; finished runs are reused.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { Config } from '../core/config';
import { outputPaths } from '../core/paths';
import type { FeatureSet } from '../core/contracts';
import type { WeightsPaths } from '../backbone/weights';
import { trainHeads } from '../head/ensemble';
import { loadHead } from '../head/modelStore';
import { predictHead } from '../head/predict';
import { blockFromImagenet, disposeBlock, TrainableBlock } from '../finetune/block';
import type { BlockInputsResult } from '../finetune/blockInputs';
import { blockFeatures, finetuneBlock } from '../finetune/train';
import { createProgress } from '../view/progress';
import { finetuneSettings } from './finetune';
import { Scores, scoreProbabilities } from './study';

interface FinetuneCandidate {
  learningRate: number;
  epochs: number;
  patience: number;
}

interface CandidateRun extends FinetuneCandidate {
  seed: number;
  /** Where the run was made: this study, or notebook 06 (outputs/finetune/training.json). */
  source: string;
  validationLosses: number[];
  bestValidationLoss: number;
  bestEpoch: number;
  seconds: number;
  secondsPerEpoch: number[];
}

interface SeedRun {
  seed: number;
  headSeeds: number[];
  validation: { headOnly: Scores; finetuned: Scores };
  test: { headOnly: Scores; finetuned: Scores };
  finetuneEpochs: number;
  seconds: number;
}

export interface FinetuneStudy {
  version: 1;
  block: string;
  split: { train: number; validation: number; test: number };
  candidates: CandidateRun[];
  /** Index into candidates: the lowest validation loss within the first `rankedOverEpochs` epochs. */
  chosen?: number;
  /** The smallest epoch budget among the ranked candidates: all are compared over that many epochs. */
  rankedOverEpochs?: number;
  seeds: SeedRun[];
}

const sameCandidate = (a: FinetuneCandidate, b: FinetuneCandidate) =>
  a.learningRate === b.learningRate && a.epochs === b.epochs && a.patience === b.patience;

function positiveScores(head: tf.LayersModel, set: FeatureSet, positiveClass: number): Scores {
  const positive = predictHead(head, set.features).map((row) => row[positiveClass]);
  return scoreProbabilities(positive, set.labels, positiveClass);
}

/** Fine-tunes a copy of `headFolder`'s head (or the given head) and the ImageNet block with one setting. */
async function finetuneOnce(
  config: Config,
  weights: WeightsPaths,
  inputs: BlockInputsResult,
  candidate: FinetuneCandidate,
  seed: number,
  head: tf.LayersModel,
): Promise<{ block: TrainableBlock; result: Awaited<ReturnType<typeof finetuneBlock>> }> {
  const settings = { ...finetuneSettings(config), ...candidate, seed: seed };
  const block = blockFromImagenet(config.finetune.block, weights.modelJson, weights.weightsBin);
  const progress = createProgress(`lr ${candidate.learningRate}, seed ${seed}`, candidate.epochs);
  try {
    const result = await finetuneBlock(block, head, inputs.sets.train, inputs.sets.validation, settings, {
      onEpochEnd: (history) => {
        const last = history[history.length - 1];
        progress.update(history.length, `val_loss ${last.validationLoss.toFixed(4)}, ${last.seconds.toFixed(0)} s`);
      },
    });
    progress.finish();
    return { block: block, result: result };
  } catch (error) {
    disposeBlock(block);
    throw error;
  }
}

async function finetunedScores(
  block: TrainableBlock,
  head: tf.LayersModel,
  inputs: BlockInputsResult,
  positive: number,
) {
  const scores = async (name: 'validation' | 'test') => {
    const set = inputs.sets[name];
    return positiveScores(head, { features: await blockFeatures(block, set), labels: set.labels }, positive);
  };
  return { validation: await scores('validation'), test: await scores('test') };
}

/**
 * Notebook 06's own run (outputs/finetune/training.json) as a candidate, when it is one of them: the
 * same learning rate and patience, and an epoch budget at least the candidate's (its first epochs
 * are then what a run with the candidate's budget gives: same seed, same shuffles).
 */
function notebookRun(
  config: Config,
  split: FinetuneStudy['split'],
  candidates: FinetuneCandidate[],
): CandidateRun | undefined {
  const file = outputPaths(config).finetune.training;
  if (!fs.existsSync(file)) return undefined;
  const run = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    block: string;
    settings: Config['finetune'];
    data: Record<string, number>;
    history: { validationLoss: number; seconds: number }[];
    seconds: number;
  };
  const sameData =
    run.data && (['train', 'validation', 'test'] as const).every((name) => run.data[name] === split[name]);
  if (run.block !== config.finetune.block || !sameData || !run.history?.length) return undefined;
  const candidate = candidates.find(
    (one) =>
      one.learningRate === run.settings.learningRate &&
      one.patience === run.settings.patience &&
      one.epochs <= run.settings.epochs,
  );
  if (!candidate) return undefined;
  const history = run.history.slice(0, candidate.epochs);
  const losses = history.map((entry) => entry.validationLoss);
  const best = Math.min(...losses);
  return {
    ...candidate,
    seed: config.seed,
    source: 'notebook 06',
    validationLosses: losses,
    bestValidationLoss: best,
    bestEpoch: losses.indexOf(best) + 1,
    seconds: history.reduce((sum, entry) => sum + entry.seconds, 0),
    secondsPerEpoch: history.map((entry) => entry.seconds),
  };
}

/**
 * Runs the candidates (seed config.seed, head of outputs/model; notebook 06's own run counts as the
 * candidate with its settings), picks the lowest validation loss over the epochs every candidate
 * had, and scores that setting on the test images for each of `scoreSeeds`.
 */
export async function finetuneStudy(
  config: Config,
  weights: WeightsPaths,
  inputs: BlockInputsResult,
  frozen: { train: FeatureSet; validation: FeatureSet; test: FeatureSet },
  candidates: FinetuneCandidate[],
  scoreSeeds: number[],
  log: (line: string) => void = console.log,
): Promise<FinetuneStudy> {
  const file = outputPaths(config).finetune.study;
  const { train, validation, test } = inputs.sets;
  const split = { train: train.labels.length, validation: validation.labels.length, test: test.labels.length };
  let study: FinetuneStudy = { version: 1, block: config.finetune.block, split: split, candidates: [], seeds: [] };
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as FinetuneStudy;
    if (saved.block === study.block && JSON.stringify(saved.split) === JSON.stringify(split)) study = saved;
  }
  const save = () => writeJsonAtomicSync(file, study);
  const headFolder = outputPaths(config).model;
  const saved = await loadHead(headFolder);
  const { positiveClass } = saved.info;
  saved.head.dispose();
  const fromNotebook = notebookRun(config, split, candidates);
  if (fromNotebook) {
    study.candidates = study.candidates.filter((run) => !sameCandidate(run, fromNotebook));
    study.candidates.push(fromNotebook);
    save();
  }
  for (const candidate of candidates) {
    if (study.candidates.some((run) => sameCandidate(run, candidate))) continue;
    const { head } = await loadHead(headFolder);
    const { block, result } = await finetuneOnce(config, weights, inputs, candidate, config.seed, head);
    disposeBlock(block);
    head.dispose();
    const losses = result.history.map((entry) => entry.validationLoss);
    const best = Math.min(...losses);
    study.candidates.push({
      ...candidate,
      seed: config.seed,
      source: 'npm run finetune-study',
      validationLosses: losses,
      bestValidationLoss: best,
      bestEpoch: losses.indexOf(best) + 1,
      seconds: result.seconds,
      secondsPerEpoch: result.history.map((entry) => entry.seconds),
    });
    save();
    log(`lr ${candidate.learningRate}: validation losses ${losses.map((l) => l.toFixed(4)).join(', ')}`);
  }
  // Compared over the same number of epochs: the smallest budget among them.
  const ranked = study.candidates.filter((run) => candidates.some((candidate) => sameCandidate(run, candidate)));
  const epochs = Math.min(...ranked.map((run) => run.epochs));
  const score = (run: CandidateRun) => Math.min(...run.validationLosses.slice(0, epochs));
  const chosenRun = ranked.reduce((a, b) => (score(b) < score(a) ? b : a));
  study.chosen = study.candidates.indexOf(chosenRun);
  study.rankedOverEpochs = epochs;
  save();
  log(
    `chosen on validation loss (first ${epochs} epochs): learning rate ${chosenRun.learningRate} ` +
      `(${score(chosenRun).toFixed(4)})`,
  );
  const chosen: FinetuneCandidate = {
    learningRate: chosenRun.learningRate,
    epochs: chosenRun.epochs,
    patience: chosenRun.patience,
  };
  for (const seed of scoreSeeds) {
    if (study.seeds.some((run) => run.seed === seed)) continue;
    const started = Date.now();
    // The seed of outputs/model uses that head; other seeds train the recipe's heads afresh.
    const head =
      seed === config.seed
        ? (await loadHead(headFolder)).head
        : (await trainHeads({ ...config, seed: seed }, { train: frozen.train, validation: frozen.validation })).head;
    const headOnly = {
      validation: positiveScores(head, frozen.validation, positiveClass),
      test: positiveScores(head, frozen.test, positiveClass),
    };
    const { block, result } = await finetuneOnce(config, weights, inputs, chosen, seed, head);
    const finetuned = await finetunedScores(block, head, inputs, positiveClass);
    disposeBlock(block);
    head.dispose();
    study.seeds.push({
      seed: seed,
      headSeeds: Array.from({ length: config.ensembleSize }, (_, k) => seed + k),
      validation: { headOnly: headOnly.validation, finetuned: finetuned.validation },
      test: { headOnly: headOnly.test, finetuned: finetuned.test },
      finetuneEpochs: result.history.length,
      seconds: (Date.now() - started) / 1000,
    });
    save();
    log(
      `seed ${seed}: test accuracy head only ${headOnly.test.accuracy.toFixed(4)}, ` +
        `fine-tuned ${finetuned.test.accuracy.toFixed(4)}`,
    );
  }
  return study;
}

/**
 * The saved study (outputs/finetune/study.json) as table rows for notebook 06, or undefined when
 * `npm run finetune-study` has not run: the candidates by validation loss, then the chosen setting
 * on the test images per seed.
 */
export function finetuneStudyTables(
  config: Config,
): { candidates: { header: string[]; rows: string[][] }; seeds: { header: string[]; rows: string[][] } } | undefined {
  const file = outputPaths(config).finetune.study;
  if (!fs.existsSync(file)) return undefined;
  const study = JSON.parse(fs.readFileSync(file, 'utf8')) as FinetuneStudy;
  const both = (a: number, b: number) => `${a.toFixed(3)} → ${b.toFixed(3)}`;
  return {
    candidates: {
      header: ['learning rate', 'run by', 'epochs run (max)', 'validation loss per epoch', 'best', 'chosen'],
      rows: study.candidates.map((run, index) => [
        String(run.learningRate),
        run.source,
        `${run.validationLosses.length} (${run.epochs})`,
        run.validationLosses.map((loss) => loss.toFixed(4)).join(', '),
        run.bestValidationLoss.toFixed(4),
        index === study.chosen ? `yes (over ${study.rankedOverEpochs} epochs)` : '',
      ]),
    },
    seeds: {
      header: ['seed (head init seeds)', 'test accuracy', 'test loss', 'test ROC AUC', 'validation loss'],
      rows: study.seeds.map((run) => [
        `${run.seed} (${run.headSeeds.join(', ')})`,
        both(run.test.headOnly.accuracy, run.test.finetuned.accuracy),
        both(run.test.headOnly.loss, run.test.finetuned.loss),
        both(run.test.headOnly.auc, run.test.finetuned.auc),
        both(run.validation.headOnly.loss, run.validation.finetuned.loss),
      ]),
    },
  };
}
