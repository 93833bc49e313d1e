/**
 * The bugs issue #7 fixed, kept fixed: the data folder comes from the saved split after notebook 01,
 * the image size is the engines' contract rather than a setting, and the positive class is found
 * by name. Real X-rays, real weights, temporary folders.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { positiveClassIndex } from '../lib/core/classes';
import { Config, loadConfig } from '../lib/core/config';
import { figureNames, outputPaths } from '../lib/core/paths';
import { imageSize, imageValues } from '../lib/core/contracts';
import { DatasetError } from '../lib/core/errors';
import { preprocessedBatches } from '../lib/backbone/featurePipeline';
import { buildHead } from '../lib/head/head';
import { readModelInfo } from '../lib/head/modelStore';
import { writeRunMetrics } from '../lib/evaluate/runMetrics';
import { openBackbone, splitFeatures } from '../lib/pipeline/backbone';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { openModel } from '../lib/pipeline/model';
import { writeRunReport } from '../lib/pipeline/report';
import { prepareSplit } from '../lib/pipeline/split';
import { saveModel } from '../lib/pipeline/train';
import { cxrDir, temporaryFolder, tfReady } from './helpers';

const quiet = () => undefined;

describe('pipeline: the data folder after notebook 01', function () {
  this.timeout(300000);
  let work: string;
  let customData: string;
  let notebook01: Config;
  let laterNotebooks: Config;

  before(async () => {
    await tfReady();
    work = temporaryFolder('pipeline');
    // Folder names that also exercise the positive class by name: 'NORMAL' sorts before
    // 'covid-19', so COVID is class 1 here, not the usual 0.
    customData = path.join(work, 'my-xrays');
    for (const [source, target] of [
      ['COVID', 'covid-19'],
      ['NORMAL', 'NORMAL'],
    ]) {
      fs.mkdirSync(path.join(customData, target), { recursive: true });
      for (const name of fs.readdirSync(path.join(cxrDir, source)).sort().slice(0, 10)) {
        fs.copyFileSync(path.join(cxrDir, source, name), path.join(customData, target, name));
      }
    }
    const shared = { outputsDir: path.join(work, 'outputs'), cacheDir: path.join(work, 'cache') };
    // Notebook 01 is the only place the user changed dataDir; the later notebooks keep the
    // default (no environment either, as in a fresh Jupyter session).
    notebook01 = loadConfig({ ...shared, dataDir: customData }, {});
    laterNotebooks = loadConfig(shared, {});
    assert.notEqual(laterNotebooks.dataDir, customData);
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('saves the custom folder as the split root, with the classes found there', async () => {
    const guarded = await prepareSplit(notebook01, quiet);
    assert.equal(guarded.split.root, customData);
    assert.deepEqual(guarded.split.classNames, ['NORMAL', 'covid-19']);
    const saved = JSON.parse(fs.readFileSync(outputPaths(notebook01).split, 'utf8'));
    assert.equal(saved.root, customData);
    assert.equal(saved.train.length + saved.validation.length + saved.test.length, 20);
  });

  it('later steps read the images from the saved root, not from the default dataDir', async () => {
    const backbone = await openBackbone(laterNotebooks, quiet);
    try {
      const features = await splitFeatures(laterNotebooks, backbone);
      assert.equal(features.root, customData);
      assert.equal(features.skipped.length, 0, JSON.stringify(features.skipped));
      const all = [...features.sets.train.images, ...features.sets.validation.images, ...features.sets.test.images];
      assert.equal(all.length, 20);
      // Notebook 04's single-image cell: path.join(features.root, image.file).
      const oneImage = path.join(features.root, features.sets.test.images[0].file);
      assert.ok(oneImage.startsWith(customData + path.sep) && fs.existsSync(oneImage), oneImage);

      // Step 3 saves the model: the positive class is COVID found by name (index 1 here).
      const head = buildHead({ hiddenUnits: [8], classCount: 2, seed: 1 });
      const folder = await saveModel(laterNotebooks, head, features.classNames, backbone.weights);
      head.dispose();
      const info = readModelInfo(folder);
      assert.equal(info.positiveClass, 1);
      assert.deepEqual(info.classNames, ['NORMAL', 'covid-19']);
      assert.equal(info.imageSize, imageSize);

      // Step 4 as notebook 04 composes it: the report's data folder is the split's root.
      const model = await openModel(folder, laterNotebooks, quiet);
      const before = tf.memory().numTensors;
      const run = evaluateRun({
        model: model,
        evaluated: features.sets.test,
        kind: 'test split',
        found: features.sets.test.labels.length,
        skipped: [],
        features: features,
        backend: tf.getBackend(),
        engine: backbone.engine.description,
        headline: 'default',
        bootstrap: { resamples: 20, seed: 1 },
        settings: { ...model.info.settings, dataDir: features.root, subset: laterNotebooks.subsetPerClass },
      });
      assert.equal(tf.memory().numTensors, before, 'evaluateRun leaks no tensors');
      model.head.dispose();
      assert.equal(run.metrics.metrics.positiveClass, 1);
      writeRunMetrics(outputPaths(laterNotebooks).metrics, run.metrics);
      const report = fs.readFileSync(await writeRunReport(laterNotebooks), 'utf8');
      assert.ok(report.includes(customData), 'the report names the custom data folder');
      assert.ok(!report.includes(laterNotebooks.dataDir), 'and not the default one');
    } finally {
      await backbone.engine.dispose();
    }
  });
});

describe('pipeline: the image size is the engines contract, not a setting', () => {
  it('is not in the config, and an override of it does not type-check', () => {
    const config = loadConfig({}, {});
    assert.ok(!('imageSize' in config));
    // @ts-expect-error imageSize is no setting any more: the engines are built for 224x224.
    const overridden = loadConfig({ imageSize: 299 }, {});
    assert.equal(imageSize, 224);
    assert.equal((overridden as unknown as Record<string, unknown>).imageSize, 299, 'merged but ignored by lib');
  });

  it('sizes the feature pipeline batches of real X-rays by contracts.imageSize', async () => {
    const files = fs
      .readdirSync(path.join(cxrDir, 'NORMAL'))
      .sort()
      .slice(0, 3)
      .map((name) => path.join(cxrDir, 'NORMAL', name));
    for await (const batch of preprocessedBatches(files, { batchSize: 3 })) {
      assert.equal(batch.input.length, 3 * imageValues);
      assert.equal(imageValues, imageSize * imageSize * 3);
    }
  });

  it('leaves no literal 224 in the backbone code: the engines take the size from contracts', () => {
    const folder = path.join(__dirname, '..', 'lib', 'backbone');
    const literal = fs
      .readdirSync(folder)
      .flatMap((name) =>
        fs
          .readFileSync(path.join(folder, name), 'utf8')
          .split('\n')
          .map((line, index) => ({ where: `${name}:${index + 1}`, code: line.replace(/\/\/.*$|^\s*\/?\*.*$/, '') })),
      )
      .filter((line) => /\b224\b/.test(line.code))
      .map((line) => line.where);
    assert.deepEqual(literal, []);
  });
});

describe('pipeline: the positive class is found by name', () => {
  it('finds COVID whatever its position and spelling', () => {
    assert.equal(positiveClassIndex(['NORMAL', 'covid-19']), 1);
    assert.equal(positiveClassIndex(['COVID', 'NORMAL']), 0);
    assert.equal(positiveClassIndex(['Normal', 'SARS-CoV-2']), 1);
  });

  it('names the classes it found when none is COVID', () => {
    assert.throws(
      () => positiveClassIndex(['NORMAL', 'PNEUMONIA'], '/data/xrays'),
      (error: unknown) =>
        error instanceof DatasetError &&
        error.message.includes('NORMAL, PNEUMONIA') &&
        error.message.includes('COVID') &&
        error.message.includes('/data/xrays'),
    );
  });
});

describe('pipeline: artifact names', () => {
  it('lists every figure a run saves as outputs/figures/<name>.png', () => {
    const paths = outputPaths({ outputsDir: '/run' });
    const files = figureNames.map((name) => paths.figure(name));
    assert.equal(new Set(files).size, figureNames.length);
    for (const file of files) assert.match(file, /^\/run\/figures\/[a-z-]+\.png$/);
  });
});
