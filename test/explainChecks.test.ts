import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { featureLength, FeatureEngine, imageSize } from '../lib/core/contracts';
import {
  areaUnderCurve,
  faithfulnessCurves,
  occludedImages,
  occlusionMap,
  patchStarts,
  perturbedSeries,
  relevanceOrder,
} from '../lib/explain/perturbation';
import {
  averageRanks,
  bootstrapMean,
  cascadingRandomisation,
  spearman,
  ssim,
  withHeadWeights,
} from '../lib/explain/sanity';
import { blackOut, centralBoxMask, energyInside, histogram, maskArea } from '../lib/explain/regions';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const values = imageSize * imageSize * 3;
const quadrant = imageSize / 2;

/** A stand-in backbone: feature 0 is the mean of channel 0 over the top-left quadrant. */
const quadrantEngine: FeatureEngine & { images: number } = {
  name: 'onnxruntime',
  description: 'test engine',
  images: 0,
  async pooledFeatures(input: Float32Array, count: number) {
    const out = new Float32Array(count * featureLength);
    for (let image = 0; image < count; image++) {
      let sum = 0;
      for (let y = 0; y < quadrant; y++)
        for (let x = 0; x < quadrant; x++) sum += input[image * values + (y * imageSize + x) * 3];
      out[image * featureLength] = sum / (quadrant * quadrant);
    }
    this.images += count;
    return out;
  },
  async convMaps() {
    throw new Error('not used');
  },
  async dispose() {},
};

/** P(class 0) = sigmoid(0.1 * feature 0). */
function quadrantHead(): tf.LayersModel {
  const head = tf.sequential({
    layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [featureLength] })],
  });
  const kernel = tf.buffer([featureLength, 2]);
  kernel.set(0.05, 0, 0);
  kernel.set(-0.05, 0, 1);
  head.setWeights([kernel.toTensor(), tf.zeros([2])]);
  return head;
}
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('occlusion map', () => {
  it('slides a grey patch over the whole image: 13 x 13 positions for 32/16', () => {
    assert.deepEqual(
      patchStarts({ patch: 32, stride: 16 }),
      Array.from({ length: 13 }, (_, i) => i * 16),
    );
    assert.deepEqual(patchStarts({ patch: 100, stride: 100 }), [0, 100, 124]);
    assert.throws(() => patchStarts({ patch: 300, stride: 16 }), /occlusion patch 300/);
    const input = new Float32Array(values).fill(5);
    const { images, positions } = occludedImages(input, { patch: 32, stride: 16 });
    assert.equal(positions.length, 169);
    const greyOf = (index: number) =>
      images.subarray(index * values, (index + 1) * values).filter((v) => v === 0).length;
    assert.equal(greyOf(0), 32 * 32 * 3);
    assert.equal(images[20 * values + 0], 5);
  });

  it('records the drop in the class probability, hand-computed', async () => {
    const head = quadrantHead();
    const input = new Float32Array(values).fill(40);
    quadrantEngine.images = 0;
    const result = await occlusionMap(input, quadrantEngine, head, 0, { patch: 32, stride: 16 }, 32);
    assert.equal(quadrantEngine.images, 170, 'one pass for the image and one per position');
    const base = sigmoid(0.1 * 40);
    assert.ok(Math.abs(result.baseProbability - base) < 1e-6);
    // Pixel (0, 0) is covered only by the patch at (0, 0), which hides 1024 of the quadrant's 12544 pixels.
    const hidden = sigmoid(0.1 * 40 * (1 - 1024 / (quadrant * quadrant)));
    assert.ok(Math.abs(result.raw[0] - (base - hidden)) < 1e-6, `${result.raw[0]} vs ${base - hidden}`);
    // The bottom-right corner is outside the quadrant: occluding it changes nothing.
    assert.equal(result.raw[imageSize * imageSize - 1], 0);
    head.dispose();
  });
});

describe('deletion and insertion', () => {
  it('orders pixels by relevance with seeded tie breaks, and perturbs the right ones', () => {
    const heatmap = new Float32Array(imageSize * imageSize);
    heatmap[5] = 1;
    heatmap[9] = 0.5;
    const order = relevanceOrder(heatmap, 1);
    assert.deepEqual([order[0], order[1]], [5, 9]);
    assert.deepEqual(relevanceOrder(heatmap, 1), order, 'same seed, same order');
    const input = new Float32Array(values).fill(7);
    const [deleted] = [perturbedSeries(input, order, [0.5], 'deletion')];
    assert.equal(deleted.filter((v) => v === 0).length, (imageSize * imageSize * 3) / 2);
    assert.deepEqual(Array.from(deleted.subarray(15, 18)), [0, 0, 0], 'pixel 5 deleted first');
    const inserted = perturbedSeries(input, order, [0.5], 'insertion');
    assert.equal(inserted.filter((v) => v === 7).length, (imageSize * imageSize * 3) / 2);
  });

  it('areas and curves: a map on the quadrant deletes the evidence first', async () => {
    assert.equal(areaUnderCurve([0, 0.5, 1], [1, 0.5, 0]), 0.5);
    const head = quadrantHead();
    const input = new Float32Array(values).fill(40);
    const onQuadrant = new Float32Array(imageSize * imageSize);
    for (let y = 0; y < quadrant; y++) for (let x = 0; x < quadrant; x++) onQuadrant[y * imageSize + x] = 1;
    const elsewhere = Float32Array.from(onQuadrant, (v) => 1 - v);
    const whole = sigmoid(4);
    const grey = sigmoid(0);
    const [good, bad] = await faithfulnessCurves(input, [onQuadrant, elsewhere], {
      engine: quadrantEngine,
      head,
      classIndex: 0,
      innerFractions: [0.25, 0.5],
      wholeProbability: whole,
      greyProbability: grey,
      seed: 3,
      batchSize: 4,
    });
    // Deleting 25% along the good map removes exactly the quadrant: P drops to sigmoid(0).
    assert.ok(Math.abs(good.deletion[1] - grey) < 1e-6);
    assert.ok(Math.abs(bad.deletion[1] - whole) < 1e-6);
    assert.ok(Math.abs(good.insertion[1] - whole) < 1e-6);
    assert.ok(areaUnderCurve(good.fractions, good.deletion) < areaUnderCurve(bad.fractions, bad.deletion));
    head.dispose();
  });
});

describe('sanity-check statistics', () => {
  it('Spearman with ties, as scipy', () => {
    assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12);
    assert.deepEqual(Array.from(averageRanks([3, 1, 3, 2])), [3.5, 1, 3.5, 2]);
    // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 2]) = 0.5
    assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 3, 2, 2]) - 0.5) < 1e-12);
    assert.equal(spearman([1, 1, 1], [1, 2, 3]), 0);
  });

  it('SSIM: 1 for equal maps, the closed form for two flat maps', () => {
    const size = 16;
    const a = Float32Array.from({ length: size * size }, (_, i) => ((i * 37) % 11) / 10);
    assert.ok(Math.abs(ssim(a, a, size) - 1) < 1e-9);
    const p = 0.2;
    const q = 0.6;
    const flat = (v: number) => new Float32Array(size * size).fill(v);
    const expected = (2 * p * q + 1e-4) / (p * p + q * q + 1e-4);
    assert.ok(Math.abs(ssim(flat(p), flat(q), size) - expected) < 1e-6);
  });

  it('cascading randomisation changes the last layer first and the weights come back', async () => {
    const head = tf.sequential({
      layers: [
        tf.layers.dense({ units: 4, activation: 'relu', inputShape: [3], name: 'fc1' }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 2, activation: 'softmax', name: 'predictions' }),
      ],
    });
    const trained = head.getWeights().map((t) => Array.from(t.dataSync()));
    const before = tf.memory().numTensors;
    const stages = cascadingRandomisation(head, 5);
    assert.deepEqual(
      stages.map((stage) => stage.label),
      ['predictions', 'predictions+fc1'],
    );
    const first = stages[0].weights.map((t) => Array.from(t.dataSync()));
    assert.deepEqual(first[0], trained[0], 'fc1 kernel as trained in stage 1');
    assert.notDeepEqual(first[2], trained[2], 'predictions kernel redrawn');
    assert.deepEqual(first[3], [0, 0], 'bias zero');
    const seen = await withHeadWeights(head, stages[1].weights, () => Array.from(head.getWeights()[0].dataSync()));
    assert.notDeepEqual(seen, trained[0]);
    assert.deepEqual(Array.from(head.getWeights()[0].dataSync()), trained[0], 'restored');
    stages.forEach((stage) => tf.dispose(stage.weights));
    assert.equal(tf.memory().numTensors, before);
    head.dispose();
  });

  it('bootstrap mean interval brackets the mean', () => {
    const result = bootstrapMean([0.1, 0.2, 0.3, 0.4, 0.9], 1000, 1);
    assert.ok(result.low <= result.mean && result.mean <= result.high && result.low < result.high);
    assert.equal(result.n, 5);
  });
});

describe('regions', () => {
  it('central box, energy share, black-out', () => {
    const mask = centralBoxMask({ x: [0.25, 0.75], y: [0, 0.5] }, 4);
    assert.deepEqual(Array.from(mask), [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(maskArea(mask), 0.25);
    const heat = new Float32Array(16).fill(1);
    heat[1] = 5;
    assert.equal(energyInside(heat, mask), 8 / 20);
    assert.ok(Number.isNaN(energyInside(new Float32Array(16), mask)));
    const rgb = new Uint8Array(48).fill(9);
    assert.equal(blackOut(rgb, mask, 'region-out').filter((v) => v === 0).length, 12);
    assert.equal(blackOut(rgb, mask, 'region-only').filter((v) => v === 0).length, 36);
    assert.throws(() => centralBoxMask({ x: [0.9, 0.1], y: [0, 1] }), /0 <= low < high <= 1/);
    assert.deepEqual(histogram([0, 0.5, 0.99, 1, NaN], 2), [0.25, 0.75]);
  });
});
