import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../lib/core/config';
import { defaultPreprocessing } from '../lib/core/preprocessing';
import { featureLength, FeatureEngine } from '../lib/core/contracts';
import { DatasetSplit } from '../lib/data/dataset';
import { readLungMasks, regionAccuracyAudit } from '../lib/pipeline/audit';
import { explanationSample, measureFaithfulness } from '../lib/pipeline/explain';
import type { CamPass } from '../lib/pipeline/audit';
import { caffePreprocess, loadImageRgb } from '../lib/data/images';
import { convCamMethodNames } from '../lib/explain/cams';
import type { Backbone } from '../lib/pipeline/backbone';
import { realWeights, someXrays, temporaryFolder, tfReady } from './helpers';

/** Mean pixel value as feature 0: black-outs change it, so cached and computed features can be told apart. */
function countingEngine(): FeatureEngine & { images: number } {
  return {
    name: 'onnxruntime',
    description: 'test engine',
    images: 0,
    async pooledFeatures(input: Float32Array, count: number) {
      const out = new Float32Array(count * featureLength);
      const per = input.length / count;
      for (let image = 0; image < count; image++) {
        let sum = 0;
        for (let i = 0; i < per; i++) sum += input[image * per + i];
        out[image * featureLength] = sum / per;
      }
      this.images += count;
      return out;
    },
    async convMaps() {
      throw new Error('not used');
    },
    async dispose() {},
  };
}

describe('shortcut audit with lung masks the test makes', function () {
  this.timeout(120_000);
  const xrays = someXrays(2);
  const maskFolder = temporaryFolder('lung-masks');
  before(async () => {
    await tfReady();
    // Masks for three of the four images: two at 224x224, one at 100x100 (resized), none for the last.
    const square = (size: number) => {
      const pixels = Buffer.alloc(size * size);
      for (let y = Math.floor(size * 0.2); y < size * 0.8; y++)
        pixels.fill(255, y * size + Math.floor(size * 0.2), y * size + Math.floor(size * 0.8));
      return sharp(pixels, { raw: { width: size, height: size, channels: 1 } }).png();
    };
    await square(224).toFile(path.join(maskFolder, path.basename(xrays[0].file)));
    await square(224).toFile(path.join(maskFolder, path.basename(xrays[1].file)));
    await square(100).toFile(path.join(maskFolder, path.basename(xrays[2].file)));
  });

  it('names and counts images without a mask, and says once that masks were resized', async () => {
    const lines: string[] = [];
    const result = await readLungMasks(
      maskFolder,
      xrays.map((x) => x.file),
      (line) => lines.push(line),
    );
    assert.equal(result.lungMasks.size, 3);
    assert.equal(result.maskSkipped.length, 1);
    assert.equal(result.maskSkipped[0].file, xrays[3].file);
    assert.match(result.notes.join('\n'), /lung masks of 100x100 are resized to 224x224/);
    assert.match(result.notes.join('\n'), /1 of 4 test images have no usable lung mask .*no mask/);
    assert.equal(lines.length, 2);
    const mask = result.lungMasks.get(xrays[2].file)!;
    assert.equal(mask.length, 224 * 224);
    assert.ok(mask.reduce((s, v) => s + v, 0) > 0.3 * 224 * 224);
    await assert.rejects(
      readLungMasks(path.join(maskFolder, 'nope'), [], () => undefined),
      /lung-mask folder .*nope does not exist/,
    );
  });

  it('scores the masked test images through the engine and caches them', async () => {
    const cacheDir = temporaryFolder('audit-cache');
    const config = loadConfig({ cacheDir, featureBatchSize: 2 });
    const root = path.dirname(path.dirname(xrays[0].file));
    const split: DatasetSplit = {
      root,
      classNames: ['COVID', 'NORMAL'],
      seed: 1,
      train: [],
      validation: [],
      test: xrays.map((x) => ({ file: path.relative(root, x.file), label: x.label })),
    };
    const head = tf.sequential({
      layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [featureLength] })],
    });
    const model = { folder: 'test', head, info: { positiveClass: 0 } } as never;
    const engine = countingEngine();
    const backbone = {
      engine,
      weights: await realWeights(),
      preprocessing: defaultPreprocessing,
    } as unknown as Backbone;
    const masks = (
      await readLungMasks(
        maskFolder,
        xrays.map((x) => x.file),
        () => undefined,
      )
    ).lungMasks;
    const audit = await regionAccuracyAudit(config, model, backbone, split, 'lung masks', masks);
    assert.equal(audit.regionOut.n, 3, 'the image without a mask is left out');
    assert.equal(engine.images, 6, 'region-out and region-only of three images');
    await regionAccuracyAudit(config, model, backbone, split, 'lung masks', masks);
    assert.equal(engine.images, 6, 'the second run reads the cache');
    const box = await regionAccuracyAudit(config, model, backbone, split, 'central box');
    assert.equal(box.regionOnly.n, 4);
    assert.ok(box.area > 0.6 && box.area < 0.7);
    assert.ok(fs.readdirSync(cacheDir).some((name) => name.includes('box-x0.1-0.9-y0.08-0.92-region-out')));
    head.dispose();
  });

  it('caches the occluded images: a second faithfulness run makes no occlusion passes', async () => {
    const config = loadConfig(
      {
        cacheDir: temporaryFolder('occlusion-cache'),
        explain: { fractions: [0.5], occlusion: { patch: 112, stride: 112 } },
      },
      {},
    );
    const input = caffePreprocess((await loadImageRgb(xrays[0].file)).rgb);
    const flat = new Float32Array(224 * 224).fill(0.5);
    const heatmaps = Object.fromEntries(convCamMethodNames.map((method) => [method, flat]));
    const image = { file: 'x.png', label: 0 };
    const kept = {
      image,
      file: xrays[0].file,
      input,
      convMap: new Float32Array(0),
      heatmaps,
      probabilities: [0.5, 0.5],
    };
    const pass = { kept: new Map([[image.file, kept]]) } as unknown as CamPass;
    const sample = { perClass: [[image], []], occlusion: [image], notes: [] };
    const head = tf.sequential({
      layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [featureLength] })],
    });
    const model = { folder: 'test', head, info: { positiveClass: 0 } } as never;
    const engine = countingEngine();
    const backbone = {
      engine,
      weights: await realWeights(),
      preprocessing: defaultPreprocessing,
    } as unknown as Backbone;
    const first = await measureFaithfulness(config, model, backbone, sample, pass);
    const firstImages = engine.images;
    const second = await measureFaithfulness(config, model, backbone, sample, pass);
    // 2 x 2 patch positions of 112 px: 4 occluded images, computed once.
    assert.equal(firstImages - (engine.images - firstImages), 4);
    assert.equal(second.occlusionRecords[0].positions.length, 4);
    assert.deepEqual(second.occlusionRecords[0].heatmap, first.occlusionRecords[0].heatmap);
    assert.deepEqual(second.occlusionRecords[0].occludedFeatures, first.occlusionRecords[0].occludedFeatures);
    head.dispose();
  });

  it('clamps the sample to the test set and says so', () => {
    const test = xrays.map((x, i) => ({ file: `f${i}.png`, label: x.label }));
    const split = {
      root: '/',
      classNames: ['COVID', 'NORMAL'],
      seed: 1,
      train: [],
      validation: [],
      test,
    } as DatasetSplit;
    const lines: string[] = [];
    const sample = explanationSample(loadConfig({ explain: { samplePerClass: 3, occlusionPerClass: 1 } }), split, (l) =>
      lines.push(l),
    );
    assert.deepEqual(
      sample.perClass.map((images) => images.length),
      [2, 2],
    );
    assert.equal(sample.occlusion.length, 2);
    assert.match(lines[0], /explain.samplePerClass 3 is more than the 2 COVID test images: all 2 are used/);
  });
});
