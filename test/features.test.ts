import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { DatasetSplit, LabelledImage } from '../lib/data/dataset';
import { FeatureCache, recordBytes } from '../lib/backbone/featureCache';
import { extractFeatures, featuresForSplit } from '../lib/backbone/features';
import { realFeatureSet, sharedEngine } from './featureFixtures';
import { cxrDir, someXrays, temporaryFolder } from './helpers';
import { featureLength, type FeatureEngine } from '../lib/core/contracts';

/** Wraps the real engine, counting the images it is asked for; optionally fails on the n-th call (an interrupted run). */
function countingEngine(inner: FeatureEngine, failOnCall?: number): FeatureEngine & { images: number; calls: number } {
  const counted = {
    name: inner.name,
    description: `counting ${inner.description}`,
    images: 0,
    calls: 0,
    async pooledFeatures(input: Float32Array, count: number) {
      counted.calls++;
      if (counted.calls === failOnCall) throw new Error('interrupted (simulated)');
      counted.images += count;
      return inner.pooledFeatures(input, count);
    },
    convMaps: (input: Float32Array, count: number) => inner.convMaps(input, count),
    dispose: async () => undefined,
  };
  return counted;
}

function row(features: Float32Array, index: number): Float32Array {
  return features.subarray(index * featureLength, (index + 1) * featureLength);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

/** Two X-rays differ by several units in some feature; the same X-ray in another batch by ~1e-5 at most. */
const sameImageTolerance = 1e-3;

describe('features: cached backbone features for a list of images', function () {
  this.timeout(60_000);
  // 3 of each class: COVID-a, COVID-b, COVID-c, NORMAL-a, ...
  const xrays = someXrays(3);
  const files = xrays.map((xray) => xray.file);
  let engine: FeatureEngine;
  /** The reference features of the same X-rays, computed by the shared fixture (other batches, other cache). */
  let reference: Map<string, Float32Array>;
  let folder: string;
  let cacheDir: string;

  before(async () => {
    engine = await sharedEngine();
    const twelve = await realFeatureSet(12);
    reference = new Map(twelve.files.map((file, index) => [file, row(twelve.features, index)]));
    folder = temporaryFolder('features');
    cacheDir = path.join(folder, 'cache');
  });

  function assertRowsAre(features: Float32Array, expectedFiles: string[]): void {
    assert.equal(features.length, expectedFiles.length * featureLength);
    expectedFiles.forEach((file, index) => {
      const difference = maxDifference(row(features, index), reference.get(file)!);
      assert.ok(
        difference < sameImageTolerance,
        `row ${index} should be ${path.basename(file)} (max |diff| ${difference})`,
      );
    });
  }

  it('computes every image on a first run, in input order, and stores them in the cache', async () => {
    const counting = countingEngine(engine);
    const cache = FeatureCache.open(cacheDir, 'fp');
    const result = await extractFeatures(files, { engine: counting, cache, batchSize: 4 });
    assert.equal(result.computed, 6);
    assert.equal(result.reused, 0);
    assert.deepEqual(result.kept, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(result.engines, { [engine.name]: 6 });
    assert.equal(counting.images, 6);
    assert.equal(counting.calls, 2, 'batches of 4: 4 + 2');
    assertRowsAre(result.features, files);
    assert.equal(cache.size, 6);
    assert.equal(fs.statSync(cache.filePath).size, 6 * recordBytes);
  });

  it('a second run reuses them all: computed 0, reused 6, the same numbers', async () => {
    const counting = countingEngine(engine);
    const cache = FeatureCache.open(cacheDir, 'fp');
    const first = await extractFeatures(files, { engine: counting, cache, batchSize: 4 });
    assert.equal(first.computed, 0);
    assert.equal(first.reused, 6);
    assert.equal(counting.calls, 0, 'the engine is not called at all');
    assertRowsAre(first.features, files);
    // Same cache object again, and the list reversed: rows follow the input order.
    const reversed = await extractFeatures(files.slice().reverse(), { engine: counting, cache, batchSize: 4 });
    assert.equal(reversed.reused, 6);
    files.forEach((_, index) => assert.deepEqual(row(reversed.features, 5 - index), row(first.features, index)));
  });

  it('an unreadable or missing image is skipped and listed with its file name, not fatal', async () => {
    const broken = path.join(folder, 'broken.png');
    fs.writeFileSync(
      broken,
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 3)]),
    );
    const missing = path.join(folder, 'missing.png');
    const cache = FeatureCache.open(cacheDir, 'fp');
    const counting = countingEngine(engine);
    const list = [files[0], broken, files[4], missing];
    const result = await extractFeatures(list, { engine: counting, cache, batchSize: 4 });
    assert.deepEqual(
      result.skipped.map((entry) => entry.file),
      [broken, missing],
    );
    assert.equal(result.skipped[1].reason, 'file not found');
    assert.ok(
      result.skipped[0].reason.length > 0 && !result.skipped[0].reason.includes(broken),
      `reason "${result.skipped[0].reason}" (the file is named separately)`,
    );
    assert.deepEqual(result.kept, [0, 2]);
    assertRowsAre(result.features, [files[0], files[4]]);
    assert.equal(result.reused, 2);
    assert.equal(result.computed, 0);
    assert.equal(counting.images, 0, 'the broken file was the only one to compute, and it gave nothing');
    assert.equal(cache.size, 6, 'nothing was cached for the unreadable file');
  });

  it('two unreadable files with the same bytes (or one listed twice) are both skipped', async () => {
    const empty1 = path.join(folder, 'empty-1.png');
    const empty2 = path.join(folder, 'empty-2.png');
    fs.writeFileSync(empty1, '');
    fs.writeFileSync(empty2, '');
    const cache = FeatureCache.open(cacheDir, 'fp');
    const result = await extractFeatures([empty1, files[1], empty2, empty1], { engine, cache, batchSize: 2 });
    assert.deepEqual(
      result.skipped.map((entry) => entry.file),
      [empty1, empty2, empty1],
    );
    assert.deepEqual(result.kept, [1]);
    assertRowsAre(result.features, [files[1]]);
  });

  it('a copy of an image under another name is computed once and gives identical rows', async () => {
    const copy = path.join(folder, 'copy-of-first.png');
    fs.copyFileSync(files[0], copy);
    const cache = FeatureCache.open(path.join(folder, 'fresh-cache'), 'fp');
    const counting = countingEngine(engine);
    const result = await extractFeatures([files[0], copy, files[3], files[0]], {
      engine: counting,
      cache,
      batchSize: 4,
    });
    assert.equal(counting.images, 2, 'two distinct pictures');
    assert.equal(cache.size, 2);
    assert.deepEqual(result.kept, [0, 1, 2, 3]);
    assert.equal(result.computed + result.reused, 4);
    assert.deepEqual(row(result.features, 1), row(result.features, 0));
    assert.deepEqual(row(result.features, 3), row(result.features, 0));
    assertRowsAre(result.features, [files[0], files[0], files[3], files[0]]);
  });

  it('resumes after an interruption: only the images not yet cached are computed', async () => {
    const resumeDir = path.join(folder, 'resume-cache');
    // First run: batches of 2; the engine "crashes" on the second batch.
    const crashing = countingEngine(engine, 2);
    await assert.rejects(
      extractFeatures(files, { engine: crashing, cache: FeatureCache.open(resumeDir, 'fp'), batchSize: 2 }),
      /interrupted \(simulated\)/,
    );
    const cacheFile = FeatureCache.open(resumeDir, 'fp').filePath;
    assert.equal(fs.statSync(cacheFile).size, 2 * recordBytes, 'the first batch was saved before the crash');
    // The crash also tore a record in half.
    fs.appendFileSync(cacheFile, Buffer.alloc(recordBytes / 2, 1));

    // A new process opens the cache and runs again.
    const counting = countingEngine(engine);
    const cache = FeatureCache.open(resumeDir, 'fp');
    assert.equal(cache.size, 2);
    const result = await extractFeatures(files, { engine: counting, cache, batchSize: 2 });
    assert.equal(result.reused, 2);
    assert.equal(result.computed, 4);
    assert.equal(counting.images, 4);
    assertRowsAre(result.features, files);
    assert.equal(fs.statSync(cacheFile).size, 6 * recordBytes);
  });

  it('featuresForSplit: one set per split part, in split order, with labels and images', async () => {
    // A dataset folder of copies (keyed by content, so the cache from the first test serves them) and one broken image.
    const root = path.join(folder, 'dataset');
    const image = (xray: { file: string; label: number }): LabelledImage => ({
      file: `${path.basename(path.dirname(xray.file))}/${path.basename(xray.file)}`,
      label: xray.label,
    });
    for (const className of ['COVID', 'NORMAL']) fs.mkdirSync(path.join(root, className), { recursive: true });
    for (const xray of xrays) fs.copyFileSync(xray.file, path.join(root, image(xray).file));
    fs.writeFileSync(path.join(root, 'NORMAL', 'broken.png'), 'not a png');
    const [c0, c1, c2, n0, n1, n2] = xrays.map(image);
    const broken: LabelledImage = { file: 'NORMAL/broken.png', label: 1 };
    const split: DatasetSplit = {
      root,
      classNames: ['COVID', 'NORMAL'],
      seed: 42,
      train: [n1, c0, c1, n0],
      validation: [c2, broken],
      test: [n2],
    };
    const counting = countingEngine(engine);
    const result = await featuresForSplit(split, {
      engine: counting,
      cache: FeatureCache.open(cacheDir, 'fp'),
      batchSize: 4,
    });
    assert.equal(counting.images, 0);
    assert.equal(result.reused, 6);
    assert.equal(result.computed, 0);
    assert.deepEqual(result.skipped, [
      { file: path.join(root, 'NORMAL', 'broken.png'), reason: result.skipped[0]?.reason },
    ]);
    assert.deepEqual(result.sets.train.images, split.train);
    assert.deepEqual(result.sets.train.labels, [1, 0, 0, 1]);
    assert.deepEqual(result.sets.validation.images, [c2], 'the broken image is left out');
    assert.deepEqual(result.sets.validation.labels, [0]);
    assert.deepEqual(result.sets.test.images, [n2]);
    assert.deepEqual(result.sets.test.labels, [1]);
    const original = (entry: LabelledImage) => path.join(cxrDir, entry.file);
    assertRowsAre(result.sets.train.features, split.train.map(original));
    assertRowsAre(result.sets.validation.features, [original(c2)]);
    assertRowsAre(result.sets.test.features, [original(n2)]);
  });
});
