/**
 * The safeguards' parts on their own: the guard's math, temperature scaling, the input checks,
 * and the guard and temperature in the model store (round trip, older models, damaged files).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { ModelFileError } from '../lib/core/errors';
import { createRandom } from '../lib/core/random';
import { checkInputImage } from '../lib/data/inputChecks';
import { crossEntropyAt, fitTemperature, headLogits, softmaxWithTemperature } from '../lib/head/calibration';
import { buildHead, combineHeads } from '../lib/head/head';
import { loadGuard, readModelInfo, saveGuard, saveHead, SavedModelInfo, updateModelInfo } from '../lib/head/modelStore';
import { fitGuard, guardScores, percentileOf } from '../lib/head/ood';
import { predictHead } from '../lib/head/predict';
import { openGuard } from '../lib/pipeline/safeguards';
import { samplePhoto, someXrays, temporaryFolder, tfReady } from './helpers';

function clusteredFeatures(rows: number, seed: number, centre = 1): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: rows * 2048 }, (_, index) => centre + ((index % 7) / 7) * centre + random() * 0.3);
}

describe('out-of-distribution guard: the math', function () {
  this.timeout(120_000);
  before(tfReady);

  it('percentileOf interpolates like numpy', () => {
    assert.equal(percentileOf([1, 2, 3, 4, 5], 50), 3);
    assert.equal(percentileOf([1, 2, 3, 4, 5], 99), 4.96);
    assert.equal(percentileOf([10], 99), 10);
  });

  for (const method of ['knn', 'mahalanobis'] as const) {
    it(`${method}: in-distribution rows score low, shifted rows score above the validation threshold`, () => {
      const guard = fitGuard(clusteredFeatures(40, 1), clusteredFeatures(20, 2), { method, percentile: 99 });
      assert.equal(guard.validationCount, 20);
      const inside = guardScores(guard, clusteredFeatures(10, 3));
      assert.ok(inside.filter((score) => score > guard.threshold).length <= 2, `inside: ${inside}`);
      // Another pattern of the features: a picture unlike the training ones.
      const random = createRandom(4);
      const outside = Float32Array.from({ length: 5 * 2048 }, () => random() * 3);
      for (const score of guardScores(guard, outside))
        assert.ok(score > guard.threshold, `${score} <= ${guard.threshold}`);
      if (method === 'mahalanobis') assert.ok(guard.shrinkage! > 0 && guard.shrinkage! <= 1);
    });
  }

  it('mahalanobis: the training mean scores 0 and the score grows linearly along a direction', () => {
    const training = clusteredFeatures(30, 5);
    const guard = fitGuard(training, clusteredFeatures(10, 6), { method: 'mahalanobis', percentile: 99 });
    const mean = guard.data.slice(0, 2048);
    const step = Float32Array.from(mean, (value, index) => value + (index % 3 === 0 ? 0.5 : 0));
    const double = Float32Array.from(mean, (value, index) => value + (index % 3 === 0 ? 1 : 0));
    const [atMean, one, two] = guardScores(guard, Float32Array.from([...mean, ...step, ...double]));
    assert.ok(atMean < 1e-3, `score of the mean ${atMean}`);
    assert.ok(Math.abs(two / one - 2) < 1e-3, `${one} ${two}`);
  });

  it('does not leak tensors', () => {
    const guard = fitGuard(clusteredFeatures(10, 1), clusteredFeatures(5, 2), { method: 'knn', percentile: 99 });
    const before = tf.memory().numTensors;
    guardScores(guard, clusteredFeatures(4, 3));
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('temperature scaling', () => {
  before(tfReady);

  it('recovers the temperature that generated the labels', () => {
    const random = createRandom(11);
    const logits: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const margin = (random() - 0.5) * 12;
      logits.push([margin, 0]);
      const [p0] = softmaxWithTemperature([[margin, 0]], 2.5)[0];
      labels.push(random() < p0 ? 0 : 1);
    }
    const fitted = fitTemperature(logits, labels);
    assert.ok(Math.abs(fitted.temperature - 2.5) < 0.25, `T = ${fitted.temperature}`);
    assert.ok(fitted.lossAfter <= fitted.lossBefore);
    assert.ok(Math.abs(crossEntropyAt(logits, labels, fitted.temperature) - fitted.lossAfter) < 1e-12);
  });

  it("the head's logits give back its softmax at T = 1", () => {
    const head = buildHead({ hiddenUnits: [8], classCount: 2, seed: 3 });
    const features = clusteredFeatures(5, 8);
    const fromLogits = softmaxWithTemperature(headLogits(head, features));
    predictHead(head, features).forEach((row, index) =>
      row.forEach((value, column) => assert.ok(Math.abs(value - fromLogits[index][column]) < 1e-5)),
    );
    head.dispose();
  });

  it("an ensemble's log-probabilities stand in for logits: its softmax at T = 1, no leak", () => {
    const heads = [3, 4].map((seed) =>
      buildHead({ hiddenUnits: [8], classCount: 2, seed, namePrefix: `head${seed}_` }),
    );
    const ensemble = combineHeads(heads);
    const features = clusteredFeatures(5, 8);
    const before = tf.memory().numTensors;
    const fromLogits = softmaxWithTemperature(headLogits(ensemble, features));
    assert.equal(tf.memory().numTensors, before);
    predictHead(ensemble, features).forEach((row, index) =>
      row.forEach((value, column) => assert.ok(Math.abs(value - fromLogits[index][column]) < 1e-5)),
    );
    const softened = softmaxWithTemperature(headLogits(ensemble, features), 2);
    softened.forEach((row, index) => assert.ok(Math.abs(row[0] - 0.5) <= Math.abs(fromLogits[index][0] - 0.5) + 1e-9));
    ensemble.dispose();
  });
});

describe('input checks before the network', () => {
  const work = temporaryFolder('input-checks');
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a real chest X-ray gets no warning', async () => {
    const check = await checkInputImage(someXrays(1)[0].file);
    assert.deepEqual(check.warnings, []);
    assert.equal(check.channelDifference, 0);
  });

  it('a 1x1 image is "small"; a 1000x100 one has an extreme aspect ratio', async () => {
    const tiny = path.join(work, 'tiny.png');
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toFile(tiny);
    const wide = path.join(work, 'wide.png');
    await sharp({ create: { width: 1000, height: 100, channels: 3, background: '#808080' } })
      .png()
      .toFile(wide);
    const tinyCheck = await checkInputImage(tiny);
    assert.equal(tinyCheck.warnings.length, 1, tinyCheck.warnings.join());
    assert.match(tinyCheck.warnings[0], /small image: 1x1 px/);
    const wideCheck = await checkInputImage(wide);
    assert.deepEqual(
      wideCheck.warnings.map((warning) => warning.split(':')[0]),
      ['small image', 'extreme aspect ratio 10.0'],
    );
  });

  it('a colour photo is "coloured"', async function () {
    const photo = samplePhoto('dog.jpg');
    if (!photo) this.skip();
    const check = await checkInputImage(photo!);
    assert.equal(check.warnings.length, 1, check.warnings.join());
    assert.match(check.warnings[0], /coloured image: mean channel difference \d+\.\d .*chest X-rays are grey/);
  });
});

describe('guard and temperature in the model store', function () {
  this.timeout(60_000);
  const work = temporaryFolder('guard-store');
  const info: SavedModelInfo = {
    classNames: ['COVID', 'NORMAL'],
    positiveClass: 0,
    weightsFingerprint: '570cbecaa0f1c7aa',
    preprocessing: 'keras-nearest-caffe-v1',
    imageSize: 224,
    trainedAt: '2024-01-02T03:04:05.000Z',
    settings: {},
  };
  let folder = '';
  let count = 0;
  const savedModel = async () => {
    folder = path.join(work, `model-${count++}`);
    const head = buildHead({ hiddenUnits: [8], classCount: 2, seed: 1 });
    await saveHead(folder, head, info);
    head.dispose();
    return folder;
  };
  const guard = () => fitGuard(clusteredFeatures(12, 1), clusteredFeatures(6, 2), { method: 'knn', percentile: 99 });
  before(tfReady);
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('round-trips the guard and the temperature', async () => {
    const model = await savedModel();
    const fitted = guard();
    saveGuard(model, fitted);
    updateModelInfo(model, { temperature: 1.7 });
    const info2 = readModelInfo(model);
    assert.equal(info2.temperature, 1.7);
    assert.equal(info2.guard, 'guard.json');
    const loaded = loadGuard(model, info2)!;
    assert.equal(loaded.method, 'knn');
    assert.equal(loaded.threshold, fitted.threshold);
    assert.deepEqual(Array.from(loaded.data), Array.from(fitted.data));
    const features = clusteredFeatures(3, 9);
    assert.deepEqual(guardScores(loaded, features), guardScores(fitted, features));
  });

  it('a model saved before guards existed loads with "guard unavailable"', async () => {
    const model = await savedModel();
    assert.equal(loadGuard(model), undefined);
    assert.match(openGuard(model, readModelInfo(model)).status, /^guard unavailable/);
  });

  it('a missing, truncated or damaged guard, or one for other weights, is a ModelFileError naming the file', async () => {
    const cases: [string, (model: string) => void, RegExp][] = [
      ['guard.json', (model) => fs.rmSync(path.join(model, 'guard.json')), /guard\.json: is missing/],
      [
        'guard.bin',
        (model) => fs.truncateSync(path.join(model, 'guard.bin'), 1000),
        /guard\.bin: holds 1000 bytes, expected \d+: truncated/,
      ],
      [
        'guard.bin',
        (model) => {
          const file = path.join(model, 'guard.bin');
          const bytes = fs.readFileSync(file);
          bytes[10] ^= 0xff;
          fs.writeFileSync(file, bytes);
        },
        /does not match its checksum/,
      ],
      [
        'guard.json',
        (model) => {
          const file = path.join(model, 'guard.json');
          const header = JSON.parse(fs.readFileSync(file, 'utf8'));
          fs.writeFileSync(file, JSON.stringify({ ...header, weightsFingerprint: 'ffffffffffffffff' }));
        },
        /was made for backbone weights ffffffffffffffff, but the model was trained on 570cbecaa0f1c7aa/,
      ],
      ['guard.json', (model) => fs.writeFileSync(path.join(model, 'guard.json'), '{"ver'), /cannot be read/],
    ];
    for (const [file, damage, pattern] of cases) {
      const model = await savedModel();
      saveGuard(model, guard());
      damage(model);
      assert.throws(
        () => loadGuard(model),
        (error: unknown) =>
          error instanceof ModelFileError &&
          error.message.includes(path.join(model, file)) &&
          pattern.test(error.message),
        `${file}: ${pattern}`,
      );
    }
  });

  it('saving a new head over the folder drops the old guard, and a bad temperature is an error', async () => {
    const model = await savedModel();
    saveGuard(model, guard());
    const head = buildHead({ hiddenUnits: [8], classCount: 2, seed: 2 });
    await saveHead(model, head, info);
    head.dispose();
    assert.equal(fs.existsSync(path.join(model, 'guard.json')), false);
    assert.equal(loadGuard(model), undefined);
    fs.writeFileSync(path.join(model, 'classifier.json'), JSON.stringify({ ...info, temperature: -1 }));
    assert.throws(() => readModelInfo(model), /has temperature -1; expected a positive number/);
  });
});
