/**
 * The safeguards on real data: the project's split of the real X-rays (features from the project's
 * feature cache, computed where missing), a head trained with the tuned recipe, the guard and the
 * temperature fitted as notebook 03 fits them; then Debian's darknet photos and the internal test
 * X-rays through the guard, calibration on validation, and `npm run predict` end to end.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { LazyFeatureEngine } from '../lib/backbone/engine';
import { FeatureCache } from '../lib/backbone/featureCache';
import { extractFeatures, featuresForSplit, SplitFeatures } from '../lib/backbone/features';
import { weightsFingerprint } from '../lib/backbone/weights';
import { articleDefaults, projectRoot } from '../lib/core/config';
import { scanDataset, splitDataset } from '../lib/data/dataset';
import { calibration, positiveColumn } from '../lib/evaluate';
import { calibratedProbabilities } from '../lib/head/calibration';
import { buildHead } from '../lib/head/head';
import { saveHead } from '../lib/head/modelStore';
import { trainHead } from '../lib/head/train';
import { guardScores } from '../lib/head/ood';
import { fitSafeguards, Safeguards } from '../lib/pipeline/safeguards';
import { sharedEngine } from './featureFixtures';
import { cxrDir, realWeights, samplePhotoDirs, temporaryFolder, tfReady } from './helpers';

const photos = (() => {
  const folder = samplePhotoDirs.find((dir) => fs.existsSync(dir));
  return folder
    ? fs
        .readdirSync(folder)
        .filter((name) => name.endsWith('.jpg'))
        .map((name) => path.join(folder, name))
    : [];
})();

function runPredict(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(projectRoot, 'scripts', 'predict.ts'), ...args],
    {
      cwd: projectRoot,
      encoding: 'utf8',
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('safeguards on real X-rays and photos', function () {
  this.timeout(600_000);
  const work = temporaryFolder('safeguards-real');
  const modelFolder = path.join(work, 'model');
  let split: SplitFeatures;
  let head: tf.LayersModel;
  let safeguards: Safeguards;
  let photoFeatures: Float32Array;

  before(async () => {
    await tfReady();
    const weights = await realWeights();
    const dataset = scanDataset(cxrDir);
    const { testFraction, validationFraction, seed } = articleDefaults;
    const cache = FeatureCache.open(process.env.CXR_CACHE_DIR ?? articleDefaults.cacheDir, weightsFingerprint(weights));
    // Started only for features the cache lacks; the shared engine is disposed by its own hook.
    const engine = new LazyFeatureEngine(sharedEngine);
    split = await featuresForSplit(splitDataset(dataset, { testFraction, validationFraction, seed }), {
      engine,
      cache,
      batchSize: 8,
    });
    photoFeatures = (await extractFeatures(photos, { engine, cache, batchSize: 8 })).features;
    head = buildHead({ hiddenUnits: [512, 512], classCount: 2, seed });
    await trainHead(head, split.sets.train, split.sets.validation, {
      ...articleDefaults,
      optimizer: 'adam',
      learningRate: 1e-3,
    });
    await saveHead(modelFolder, head, {
      classNames: split.classNames,
      positiveClass: 0,
      weightsFingerprint: weightsFingerprint(weights),
      preprocessing: 'keras-nearest-caffe-v1',
      imageSize: 224,
      trainedAt: new Date().toISOString(),
      settings: { purpose: 'safeguards test' },
    });
    safeguards = fitSafeguards({ guardMethod: 'knn', guardPercentile: 99 }, { folder: modelFolder, head }, split.sets);
  });

  after(() => {
    head?.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('flags every darknet sample photo as out of distribution', function () {
    if (photos.length === 0) this.skip();
    const scores = guardScores(safeguards.guard, photoFeatures);
    assert.equal(scores.length, photos.length);
    scores.forEach((score, index) =>
      assert.ok(score > safeguards.guard.threshold, `${photos[index]}: ${score} <= ${safeguards.guard.threshold}`),
    );
  });

  it('flags at most 3% of the internal test X-rays', () => {
    const scores = guardScores(safeguards.guard, split.sets.test.features);
    const flagged = scores.filter((score) => score > safeguards.guard.threshold).length;
    assert.equal(scores.length, split.sets.test.labels.length);
    assert.ok(flagged <= 0.03 * scores.length, `${flagged} of ${scores.length} flagged`);
  });

  it('temperature scaling lowers (or keeps) the validation cross-entropy and ECE', () => {
    const { validation } = split.sets;
    assert.ok(safeguards.validationLoss.after <= safeguards.validationLoss.before + 1e-9);
    const { raw, calibrated } = calibratedProbabilities(head, validation.features, safeguards.temperature);
    const ece = (rows: number[][]) =>
      calibration(validation.labels, positiveColumn(rows, 0), 10, { positiveClass: 0 }).expectedCalibrationError;
    assert.ok(ece(calibrated) <= ece(raw), `ECE ${ece(raw)} -> ${ece(calibrated)} at T = ${safeguards.temperature}`);
  });

  it('npm run predict flags the photos, warns about colour, prints calibrated and raw probabilities', function () {
    if (photos.length === 0) this.skip();
    const result = runPredict([...photos, '--model', modelFolder]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, photos.length);
    for (const line of lines) {
      assert.equal(line.outOfDistribution, true, JSON.stringify(line));
      assert.ok(line.oodScore > safeguards.guard.threshold);
      assert.ok(line.warnings.some((warning: string) => warning.startsWith('coloured image')));
      assert.deepEqual(Object.keys(line.probabilities), ['COVID', 'NORMAL']);
      assert.deepEqual(Object.keys(line.rawProbabilities), ['COVID', 'NORMAL']);
    }
    assert.match(result.stderr, new RegExp(`${photos.length} of ${photos.length} images flagged out of distribution`));
  });

  it('npm run predict --refuse-ood withholds flagged images and keeps X-rays', function () {
    if (photos.length === 0) this.skip();
    const xray = path.join(split.root, split.sets.validation.images[0].file);
    const result = runPredict([photos[0], xray, '--model', modelFolder, '--refuse-ood']);
    assert.equal(result.code, 0, result.stderr);
    const [photo, kept] = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(photo.withheld, 'out of distribution');
    assert.equal(photo.probabilities, undefined);
    assert.equal(kept.file, xray);
    assert.equal(kept.outOfDistribution, false);
    assert.deepEqual(kept.warnings, []);
    assert.ok(kept.probabilities.COVID >= 0 && kept.probabilities.COVID <= 1);
  });

  it('a model saved without a guard predicts with "guard unavailable" instead of crashing', async () => {
    const old = path.join(work, 'old-model');
    await saveHead(old, head, {
      classNames: ['COVID', 'NORMAL'],
      positiveClass: 0,
      weightsFingerprint: weightsFingerprint(await realWeights()),
      preprocessing: 'keras-nearest-caffe-v1',
      imageSize: 224,
      trainedAt: new Date().toISOString(),
      settings: {},
    });
    const xray = path.join(split.root, split.sets.test.images[0].file);
    const result = runPredict([xray, '--model', old]);
    assert.equal(result.code, 0, result.stderr);
    const line = JSON.parse(result.stdout.trim());
    assert.equal(line.outOfDistribution, null);
    assert.match(line.guard, /^guard unavailable/);
    assert.match(result.stderr, /guard unavailable/);
    // Without a temperature, the probabilities are the raw ones.
    assert.deepEqual(line.probabilities, line.rawProbabilities);
  });
});
