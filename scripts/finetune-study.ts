/**
 * `npm run finetune-study -- [--learning-rates 1e-4,3e-5,1e-5] [--epochs 4] [--patience 1] [--seeds 42,43,44]`
 *
 * How notebook 06's settings are chosen: each learning rate fine-tunes the head of outputs/model
 * (notebook 03) with conv5_block3 on the saved split, seed config.seed (notebook 06's own run,
 * outputs/finetune/training.json, counts as the candidate with its learning rate and
 * patience, cut to the candidate's epoch budget); the one with the
 * lowest validation loss over the epochs all of them had is chosen (the test images are not looked
 * at), then scored on the test images against the head-only model for each --seeds (config.seed:
 * the head of outputs/model; others: a fresh head ensemble with those init seeds, then fine-tuned;
 * `--seeds none`: choose only). outputs/finetune/study.json is rewritten after each run and reused
 * by a re-run. Needs notebooks 01-03 (outputs/split.json, outputs/model).
 */
import * as fs from 'fs';
import { currentBackend, initBackend } from '../lib/core/backend';
import { outputPaths } from '../lib/core/paths';
import { UserFacingError } from '../lib/core/errors';
import { openBackbone, splitFeatures } from '../lib/pipeline/backbone';
import { splitBlockInputs } from '../lib/pipeline/finetune';
import { FinetuneStudy, finetuneStudy } from '../lib/pipeline/finetuneStudy';
import {
  CommandSpec,
  configFromArgs,
  displayPath,
  integerFlag,
  main,
  note,
  printResult,
  stringFlag,
  UsageError,
} from './cli';

const spec: CommandSpec = {
  name: 'finetune-study',
  summary:
    'Chooses the fine-tuning learning rate on validation loss, then scores it on the test images over seeds against the head-only model; writes outputs/finetune/study.json (resumable).',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    { name: 'learning-rates', value: '1e-4,3e-5,1e-5', description: 'the candidate learning rates' },
    { name: 'epochs', value: 'n', description: 'at most this many epochs per run (default: config.finetune.epochs)' },
    { name: 'patience', value: 'n', description: 'early stopping patience (default: config.finetune.patience)' },
    {
      name: 'seeds',
      value: '42,43',
      description: 'init seeds to score the chosen setting with on the test images (default: config.seed; none: skip)',
    },
  ],
};

function numbers(text: string | undefined, flag: string, fallback: number[]): number[] {
  if (text === undefined) return fallback;
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.length === 0 || !values.every((value) => Number.isFinite(value) && value > 0))
    throw new UsageError(`--${flag} must be positive numbers separated by commas, not "${text}"`, spec);
  return values;
}

function table(study: FinetuneStudy): void {
  printResult(
    `learning rate  epochs run  validation loss per epoch      best  | chosen (over ${study.rankedOverEpochs} epochs)`,
  );
  study.candidates.forEach((run, index) => {
    printResult(
      [
        String(run.learningRate).padEnd(14),
        String(run.validationLosses.length).padEnd(11),
        run.validationLosses
          .map((loss) => loss.toFixed(4))
          .join(' ')
          .padEnd(30),
        run.bestValidationLoss.toFixed(4),
        '|',
        index === study.chosen ? 'yes' : '',
      ].join(' '),
    );
  });
  printResult('seed  test accuracy head only -> fine-tuned   test loss            test AUC');
  for (const run of study.seeds) {
    const { headOnly, finetuned } = run.test;
    printResult(
      `${run.seed}    ${headOnly.accuracy.toFixed(4)} -> ${finetuned.accuracy.toFixed(4)}` +
        `                 ${headOnly.loss.toFixed(4)} -> ${finetuned.loss.toFixed(4)}` +
        `     ${headOnly.auc.toFixed(4)} -> ${finetuned.auc.toFixed(4)}`,
    );
  }
}

main(spec, async (args) => {
  const config = configFromArgs(args);
  const paths = outputPaths(config);
  if (!fs.existsSync(paths.split) || !fs.existsSync(paths.model))
    throw new UserFacingError(
      `${displayPath(paths.split)} or ${displayPath(paths.model)} is missing: run notebooks 01-03 first (npm start)`,
    );
  await initBackend(config.backend);
  note(`tfjs backend: ${currentBackend()}`);
  const backbone = await openBackbone(config, note);
  const inputs = await splitBlockInputs(config, backbone.weights);
  const frozen = await splitFeatures(config, backbone);
  await backbone.engine.dispose();
  const epochs = integerFlag(args, spec, 'epochs', config.finetune.epochs, 1);
  const patience = integerFlag(args, spec, 'patience', config.finetune.patience, 1);
  const candidates = numbers(stringFlag(args, 'learning-rates'), 'learning-rates', [1e-4, 3e-5, 1e-5]).map(
    (learningRate) => ({ learningRate: learningRate, epochs: epochs, patience: patience }),
  );
  const seedText = stringFlag(args, 'seeds');
  const seeds = seedText === 'none' ? [] : numbers(seedText, 'seeds', [config.seed]);
  const study = await finetuneStudy(config, backbone.weights, inputs, frozen.sets, candidates, seeds, note);
  note(`saved ${displayPath(paths.finetune.study)}`);
  table(study);
  printResult('(chosen by validation loss; the test columns are reported, never used to choose)');
  return 0;
});
