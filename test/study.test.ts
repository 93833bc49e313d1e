import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadConfig, projectRoot } from '../lib/core/config';
import { FeatureSet } from '../lib/core/contracts';
import { UserFacingError } from '../lib/core/errors';
import { expandGrid, rankStudy, runStudy, scoreProbabilities, StudyFile, StudyGrid } from '../lib/pipeline/study';
import { studyChart, studyTable } from '../lib/pipeline/studyView';
import { pick, realFeatureSet } from './featureFixtures';
import { temporaryFolder, tfReady } from './helpers';

describe('study: a grid of head recipes over seeds, ranked by validation loss, resumable', function () {
  this.timeout(300_000);
  let sets: { train: FeatureSet; validation: FeatureSet; test: FeatureSet };
  const config = loadConfig({ epochs: 3, batchSize: 8, earlyStopping: { patience: 1 } }, {});
  const grid: StudyGrid = { learningRates: { adam: [1e-3], sgd: [1e-4] }, initSeeds: [1, 2], ensembleSizes: [2] };

  before(async () => {
    await tfReady();
    const all = await realFeatureSet(12);
    // someXrays(12): 0-11 COVID, 12-23 NORMAL.
    sets = {
      train: pick(all, [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]),
      validation: pick(all, [6, 7, 8, 18, 19, 20]),
      test: pick(all, [9, 10, 11, 21, 22, 23]),
    };
  });

  it('scores probabilities as Keras does (clipped cross-entropy), with accuracy and AUC', () => {
    const scores = scoreProbabilities([0.9, 0.2, 0.6, 0.1], [0, 0, 1, 1], 0);
    const expected = -(Math.log(0.9) + Math.log(0.2) + Math.log(0.4) + Math.log(0.9)) / 4;
    assert.ok(Math.abs(scores.loss - expected) < 1e-12);
    assert.equal(scores.accuracy, 0.5);
    assert.equal(scores.auc, 0.75);
    assert.ok(Number.isFinite(scoreProbabilities([1, 0], [1, 0], 0).loss), 'clipped: a sure miss is finite');
  });

  it('names a grid setting that cannot train before any work', () => {
    const bad: [Partial<StudyGrid>, RegExp][] = [
      [{ learningRates: { adam: [0] } }, /study setting adam 0.*learningRate must be a number above 0/],
      [{ learningRates: { adam: [] } }, /learningRates.adam must list at least one learning rate/],
      [{ learningRates: { rmsprop: [1e-3] } as StudyGrid['learningRates'] }, /optimizer "rmsprop" is unknown/],
      [{ headHiddenUnits: [[]] }, /headHiddenUnits must list at least one hidden layer/],
      [{ initSeeds: [] }, /initSeeds must list at least one/],
      [{ ensembleSizes: [3] }, /ensembleSizes must be whole numbers from 1 to the number of initSeeds \(2\)/],
    ];
    for (const [change, message] of bad) {
      assert.throws(
        () => expandGrid({ ...grid, ...change }, config),
        (error: Error) => error instanceof UserFacingError && message.test(error.message),
        JSON.stringify(change),
      );
    }
    assert.equal(expandGrid({ ...grid, dropout: [0, 0.3], weightDecay: [0, 1e-4] }, config).length, 8);
  });

  it('trains every setting x seed, saves after each trial, ranks by validation loss and resumes', async () => {
    const folder = temporaryFolder('study');
    const file = path.join(folder, 'study.json');
    const tensors = tf.memory().numTensors;
    const seen: { done: number; total: number; reused: boolean; onDisk: number }[] = [];
    const study = await runStudy(config, sets, grid, {
      file,
      onTrial: (_study, done, total, _trial, reused) => {
        const onDisk = (JSON.parse(fs.readFileSync(file, 'utf8')) as StudyFile).trials.length;
        seen.push({ done, total, reused, onDisk });
      },
    });
    assert.equal(tf.memory().numTensors, tensors, 'no tensors leak from a study');
    assert.deepEqual(
      seen.map((entry) => [entry.done, entry.total, entry.reused, entry.onDisk]),
      [
        [1, 4, false, 1],
        [2, 4, false, 2],
        [3, 4, false, 3],
        [4, 4, false, 4],
      ],
      'written to disk after each trial',
    );
    for (const trial of study.trials) {
      assert.ok(trial.epochsRun >= 1 && trial.epochsRun <= 3);
      assert.equal(trial.validationProbabilities.length, 6);
      assert.equal(trial.testProbabilities.length, 6);
      assert.ok(trial.validation.loss > 0 && trial.test.accuracy >= 0 && trial.test.accuracy <= 1);
    }
    const ranking = rankStudy(study);
    // 2 settings, each as single heads (mean over 2 seeds) and as an ensemble of 2.
    assert.equal(ranking.length, 4);
    for (let i = 1; i < ranking.length; i++)
      assert.ok(ranking[i - 1].validationLoss.mean <= ranking[i].validationLoss.mean, 'sorted by validation loss');
    const adam = ranking.find((row) => row.settings.optimizer === 'adam' && row.ensembleSize === 1)!;
    const adamTrials = study.trials.filter((trial) => trial.settings.optimizer === 'adam');
    const meanLoss = (adamTrials[0].validation.loss + adamTrials[1].validation.loss) / 2;
    assert.ok(Math.abs(adam.validationLoss.mean - meanLoss) < 1e-9);
    assert.ok(adam.validationLoss.sd > 0, 'two seeds give two different heads');
    assert.match(studyTable(ranking), /adam 0.001, \[512,512\], patience 1, ensemble of 2/);
    assert.ok(studyChart(ranking, 'loss').subarray(1, 4).toString() === 'PNG');

    // A re-run trains nothing; a bigger grid trains only what is new.
    const again: boolean[] = [];
    await runStudy(config, sets, grid, { file, onTrial: (_s, _d, _t, _trial, reused) => void again.push(reused) });
    assert.deepEqual(again, [true, true, true, true]);
    const more: boolean[] = [];
    const bigger = await runStudy(
      config,
      sets,
      { ...grid, initSeeds: [1, 2, 3] },
      { file, onTrial: (_s, _d, _t, _trial, reused) => void more.push(reused) },
    );
    assert.deepEqual(more, [true, true, false, true, true, false]);
    assert.equal(bigger.trials.length, 6);
    // Other data: a fresh study, never mixed with the old trials.
    const swapped = { ...sets, validation: sets.test, test: sets.validation };
    const fresh = await runStudy(
      config,
      swapped,
      { ...grid, learningRates: { adam: [1e-3] }, initSeeds: [1], ensembleSizes: [] },
      { file },
    );
    assert.equal(fresh.trials.length, 1);
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('npm run study refuses --interactive in CI and bad --seeds, with the usage line', () => {
    const run = (args: string[], env: Record<string, string>) => {
      try {
        execFileSync('npx', ['tsx', 'scripts/study.ts', ...args], {
          cwd: projectRoot,
          env: { ...process.env, ...env },
          stdio: 'pipe',
        });
        return { status: 0, stderr: '' };
      } catch (error) {
        const failure = error as { status: number; stderr: Buffer };
        return { status: failure.status, stderr: failure.stderr.toString() };
      }
    };
    const ci = run(['--interactive'], { CI: 'true' });
    assert.equal(ci.status, 1);
    assert.match(ci.stderr, /study: --interactive opens a browser; it does not run in CI/);
    const seeds = run(['--seeds', '1,x'], { CI: 'true' });
    assert.equal(seeds.status, 1);
    assert.match(seeds.stderr, /--seeds must be whole numbers separated by commas, not "1,x"/);
    assert.match(seeds.stderr, /usage: npm run study/);
  });
});
