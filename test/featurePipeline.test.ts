import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { preprocessedBatches, PreprocessedBatch } from '../lib/backbone/featurePipeline';
import { caffePreprocess, loadImageRgb, RgbImage } from '../lib/data/images';
import { someXrays, temporaryFolder } from './helpers';

async function collect(batches: AsyncGenerator<PreprocessedBatch>): Promise<PreprocessedBatch[]> {
  const all: PreprocessedBatch[] = [];
  for await (const batch of batches) all.push(batch);
  return all;
}

/** A stand-in decoder: 2x2 images whose pixels encode the file number, after a short delay. */
function fakeImages(onStart: (file: string) => void = () => undefined) {
  return async (file: string, size: number): Promise<RgbImage> => {
    onStart(file);
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (file.includes('bad')) throw new Error('not an image');
    return {
      rgb: new Uint8Array(size * size * 3).fill(Number(file.replace(/\D/g, '')) % 256),
      width: size,
      height: size,
    };
  };
}

describe('feature pipeline: decoding overlapped with inference', function () {
  this.timeout(30_000);
  let folder: string;
  before(() => {
    folder = temporaryFolder('pipeline');
  });
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('yields real X-rays in order as caffe-preprocessed batches, skipping and reporting unreadable files', async () => {
    const xrays = someXrays(3).map((xray) => xray.file);
    const corrupt = path.join(folder, 'corrupt.png');
    fs.writeFileSync(
      corrupt,
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 7)]),
    );
    const missing = path.join(folder, 'missing.png');
    const files = [xrays[0], corrupt, xrays[1], xrays[2], missing, xrays[3], xrays[4], xrays[5]];
    const batches = await collect(preprocessedBatches(files, { batchSize: 3 }));

    assert.deepEqual(
      batches.map((batch) => batch.count),
      [2, 2, 2],
    );
    assert.deepEqual(
      batches.flatMap((batch) => batch.files),
      xrays,
    );
    const skipped = batches.flatMap((batch) => batch.skipped);
    assert.deepEqual(
      skipped.map((entry) => entry.file),
      [corrupt, missing],
    );
    assert.match(skipped[0].reason, /cannot be read as an image/);
    assert.equal(skipped[1].reason, 'file not found');
    for (const batch of batches) assert.equal(batch.input.length, batch.count * 224 * 224 * 3);

    // Row 1 of the first batch is xrays[1] (the corrupt file before it left no gap).
    const expected = caffePreprocess((await loadImageRgb(xrays[1])).rgb);
    assert.deepEqual(batches[0].input.subarray(224 * 224 * 3), expected);
  });

  it('never decodes more than `prefetch` batches ahead of the consumer', async () => {
    const files = Array.from({ length: 40 }, (_, index) => `image${index}.png`);
    for (const prefetch of [0, 1, 3]) {
      let started = 0;
      const batches = preprocessedBatches(files, {
        batchSize: 4,
        prefetch,
        imageSize: 2,
        loadImage: fakeImages(() => started++),
      });
      let received = 0;
      for await (const batch of batches) {
        received += 1;
        // While the consumer holds batch `received`, at most `prefetch` more batches were started.
        assert.ok(
          started <= (received + prefetch) * 4,
          `prefetch ${prefetch}: ${started} images started with ${received} batches received`,
        );
        await new Promise((resolve) => setTimeout(resolve, 5)); // "inference"
        assert.equal(batch.count, 4);
      }
      assert.equal(received, 10);
      assert.equal(started, 40);
    }
  });

  it('yields a batch with count 0 when none of its images can be read, and the rest carries on', async () => {
    const files = ['bad1.png', 'bad2.png', 'image3.png'];
    const batches = await collect(preprocessedBatches(files, { batchSize: 2, imageSize: 2, loadImage: fakeImages() }));
    assert.deepEqual(
      batches.map((batch) => batch.count),
      [0, 1],
    );
    assert.equal(batches[0].input.length, 0);
    assert.deepEqual(batches[0].skipped, [
      { file: 'bad1.png', reason: 'not an image' },
      { file: 'bad2.png', reason: 'not an image' },
    ]);
    assert.equal(batches[1].input[0], Math.fround(3 - 103.939)); // B = R = G = 3 here
  });

  it('handles an empty list and refuses a bad batch size', async () => {
    assert.deepEqual(await collect(preprocessedBatches([], { batchSize: 8 })), []);
    await assert.rejects(
      collect(preprocessedBatches(['a.png'], { batchSize: 0 })),
      /batchSize must be a positive integer/,
    );
  });
});
