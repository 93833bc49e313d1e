/**
 * Outputs that never go stale silently (issue #12): a re-trained model leaves metrics.json,
 * notebook 04's figures and the threshold out of date, and the report and staleOutputs say so; a
 * model that scored better on validation is kept in outputs/model.previous/ with a warning, and
 * restorePreviousModel puts it back. Real X-rays, real weights, real heads; temporary folders.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Config, loadConfig } from '../lib/core/config';
import { outputPaths } from '../lib/core/paths';
import { fileDigest } from '../lib/core/provenance';
import { buildHead } from '../lib/head/head';
import { evaluateHead } from '../lib/head/predict';
import { readModelInfo, updateModelInfo } from '../lib/head/modelStore';
import { writeRunMetrics } from '../lib/evaluate/runMetrics';
import { openBackbone, splitFeatures } from '../lib/pipeline/backbone';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { restorePreviousModel, staleOutputs, warnStaleOutputs } from '../lib/pipeline/freshness';
import { openModel } from '../lib/pipeline/model';
import { writeRunReport } from '../lib/pipeline/report';
import { prepareSplit } from '../lib/pipeline/split';
import { saveModel } from '../lib/pipeline/train';
import { saveFigure } from '../lib/view/display';
import { screeningFigures } from '../lib/view/screeningFigures';
import { cxrDir, temporaryFolder, tfReady } from './helpers';

const quiet = () => undefined;

describe('freshness: outputs that say when they are out of date', function () {
  this.timeout(300000);
  let work: string;
  let config: Config;
  let sets: Awaited<ReturnType<typeof splitFeatures>>;
  let weights: Awaited<ReturnType<typeof openBackbone>>['weights'];

  before(async () => {
    await tfReady();
    work = temporaryFolder('freshness');
    const data = path.join(work, 'xrays');
    for (const name of ['COVID', 'NORMAL']) {
      fs.mkdirSync(path.join(data, name), { recursive: true });
      for (const file of fs.readdirSync(path.join(cxrDir, name)).sort().slice(0, 12)) {
        fs.copyFileSync(path.join(cxrDir, name, file), path.join(data, name, file));
      }
    }
    config = loadConfig(
      { dataDir: data, outputsDir: path.join(work, 'outputs'), cacheDir: path.join(work, 'cache') },
      {},
    );
    await prepareSplit(config, quiet);
    const backbone = await openBackbone(config, quiet);
    try {
      sets = await splitFeatures(config, backbone);
      weights = backbone.weights;
    } finally {
      await backbone.engine.dispose();
    }
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  /** Two real heads (different init seeds) with their real validation losses, better one first. */
  function twoHeads(): { head: tf.LayersModel; loss: number }[] {
    const heads = [1, 2].map((seed) => {
      const head = buildHead({ hiddenUnits: [16], classCount: 2, seed: seed });
      return { head, loss: evaluateHead(head, sets.sets.validation).loss };
    });
    assert.notEqual(heads[0].loss, heads[1].loss);
    return heads.sort((a, b) => a.loss - b.loss);
  }

  async function evaluateAndReport(): Promise<void> {
    const model = await openModel(outputPaths(config).model, config, quiet);
    const run = evaluateRun({
      model: model,
      evaluated: sets.sets.test,
      kind: 'test split',
      found: sets.sets.test.labels.length,
      skipped: [],
      features: sets,
      backend: tf.getBackend(),
      engine: 'test',
      headline: 'default',
      bootstrap: { resamples: 20, seed: 1 },
      settings: {},
    });
    model.head.dispose();
    writeRunMetrics(outputPaths(config).metrics, run.metrics);
    for (const figure of screeningFigures(run.metrics.metrics)) saveFigure(config, figure.name, figure.png);
    updateModelInfo(outputPaths(config).model, { threshold: 0.5 });
  }

  it('keeps the better model in model.previous/ with a one-line warning, and restores it', async () => {
    const paths = outputPaths(config);
    const [better, worse] = twoHeads();
    const lines: string[] = [];
    await saveModel(config, better.head, sets.classNames, weights, better.loss, (line) => lines.push(line));
    assert.equal(lines.length, 0, 'nothing to replace yet');
    const first = readModelInfo(paths.model);
    assert.equal(first.validationLoss, better.loss);
    assert.equal(first.split, fileDigest(paths.split));
    await evaluateAndReport();
    assert.deepEqual(staleOutputs(config), [], 'model, metrics and threshold belong together');

    await saveModel(config, worse.head, sets.classNames, weights, worse.loss, (line) => lines.push(line));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /^warning: the model saved before .* had a lower validation loss/);
    assert.ok(lines[0].includes(better.loss.toFixed(4)) && lines[0].includes(worse.loss.toFixed(4)), lines[0]);
    assert.ok(lines[0].includes(paths.previousModel), lines[0]);
    assert.equal(readModelInfo(paths.previousModel).trainedAt, first.trainedAt);
    const second = readModelInfo(paths.model);
    assert.equal(second.validationLoss, worse.loss);

    // A third, worse again: the better first model stays in model.previous/, and it is said again.
    lines.length = 0;
    await saveModel(config, worse.head, sets.classNames, weights, worse.loss, (line) => lines.push(line));
    assert.equal(lines.length, 1);
    assert.equal(readModelInfo(paths.previousModel).trainedAt, first.trainedAt);

    const restored = restorePreviousModel(config);
    assert.equal(restored.trainedAt, first.trainedAt);
    assert.equal(readModelInfo(paths.model).trainedAt, first.trainedAt);
    assert.deepEqual(staleOutputs(config), [], 'the restored model is the one metrics.json is from');
    better.head.dispose();
    worse.head.dispose();
  });

  it('says metrics.json, the threshold and the split are out of date after training again', async () => {
    const paths = outputPaths(config);
    const [head] = twoHeads();
    const evaluated = readModelInfo(paths.model).trainedAt;
    await saveModel(config, head.head, sets.classNames, weights, head.loss, quiet);
    head.head.dispose();
    const saved = readModelInfo(paths.model).trainedAt;
    const lines = staleOutputs(config);
    const time = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.equal(
      lines[0],
      `metrics.json is from the model trained at ${time(evaluated)}, the saved model was trained at ` +
        `${time(saved)}: run notebook 04`,
    );
    assert.match(lines[1], /has no decision threshold chosen on validation data yet .*: run notebook 04$/);
    const printed: string[] = [];
    warnStaleOutputs(config, ['metrics'], (line) => printed.push(line));
    assert.deepEqual(printed, [`warning: ${lines[0]}`]);

    // The report (notebook 05's last cell) says it at the top and under notebook 04's figures.
    const report = fs.readFileSync(await writeRunReport(config), 'utf8');
    assert.ok(report.includes('id="out-of-date"'), 'a box at the top');
    assert.ok(report.includes(lines[0]), 'with the metrics line');
    assert.ok(report.includes('Out of date: from the model trained at'), 'and a caption under the ROC curve');

    // Notebook 01 again with another seed: the model's split is not the saved one any more.
    await prepareSplit({ ...config, seed: config.seed + 1 }, quiet);
    const splitLines = staleOutputs(config, ['split']);
    assert.equal(splitLines.length, 1);
    assert.match(splitLines[0], /trained on another split than split\.json holds now .*; run notebook 03$/);
  });
});
