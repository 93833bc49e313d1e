/**
 * `npm run bench` rows for fine-tuning (notebook 06): one training step of conv5_block3 + head on
 * cached-size inputs (batch 32, Adam) per available tfjs backend, as images/s and the seconds per
 * epoch of 1,430 training images they imply; and the convolution gradients of lib/finetune
 * (conv2dByMatMul) against tf.conv2d's own gradients on the cpu backend (wasm has none).
 */
import * as tf from '@tensorflow/tfjs';
import { blockForward, blockFromImagenet, disposeBlock } from '../lib/finetune/block';
import { conv2dByMatMul } from '../lib/finetune/convMatMul';
import { buildHead } from '../lib/head/head';
import type { WeightsPaths } from '../lib/backbone/weights';

export interface FinetuneRow {
  what: string;
  batchSize: number;
  images: number;
  runs: number;
  imagesPerSecond: number;
  samples: number[];
  otherBusyCores: number | null;
  note?: string;
}

type Measure = (
  label: string,
  images: number,
  runs: number,
  work: () => Promise<void>,
) => Promise<{ imagesPerSecond: number; samples: number[]; otherBusyCores: number | null }>;

const trainingImages = 1430;

async function trainingStepRow(paths: WeightsPaths, backend: string, batch: number, runs: number, measure: Measure) {
  const block = blockFromImagenet('conv5_block3', paths.modelJson, paths.weightsBin);
  const head = buildHead({ hiddenUnits: [512, 512], classCount: 2, seed: 1 });
  const variables = [...block.variables, ...head.trainableWeights.map((weight) => weight.read() as tf.Variable)];
  const optimizer = tf.train.adam(1e-5);
  const x = tf.randomUniform([batch, 7, 7, 2048], 0, 2, 'float32', 1) as tf.Tensor4D;
  const y = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % 2),
        'int32',
      ),
      2,
    )
    .toFloat();
  const step = async () => {
    tf.tidy(() => {
      optimizer
        .minimize(
          () =>
            tf.metrics
              .categoricalCrossentropy(y, head.apply(tf.mean(blockForward(block, x), [1, 2])) as tf.Tensor)
              .mean() as tf.Scalar,
          true,
          variables,
        )!
        .dataSync();
    });
  };
  // CPU time per step as well: on a shared machine it says what an idle core would take.
  let cpuSeconds = 0;
  let steps = 0;
  const timedStep = async () => {
    const before = process.cpuUsage();
    await step();
    const used = process.cpuUsage(before);
    cpuSeconds += (used.user + used.system) / 1e6;
    steps++;
  };
  try {
    const result = await measure(`fine-tuning step on ${backend} (batch ${batch})`, batch, runs, timedStep);
    const cpuPerStep = cpuSeconds / steps;
    const idleEpoch = Math.round((cpuPerStep * trainingImages) / batch);
    return {
      what: `fine-tuning conv5_block3 + head, training step, ${backend} backend`,
      batchSize: batch,
      images: batch,
      runs,
      ...result,
      note:
        `about ${Math.round(trainingImages / result.imagesPerSecond)} s per epoch of ${trainingImages} images ` +
        `(training steps only); ${cpuPerStep.toFixed(2)} CPU-s per step, so about ${idleEpoch} s per epoch on an idle core`,
    };
  } finally {
    tf.dispose([x, y]);
    optimizer.dispose();
    disposeBlock(block);
    head.dispose();
  }
}

async function gradientRow(backend: string, useTfConv: boolean, batch: number, runs: number, measure: Measure) {
  const x = tf.randomUniform([batch, 7, 7, 512], 0, 1, 'float32', 2) as tf.Tensor4D;
  const kernel = tf.randomNormal([3, 3, 512, 512], 0, 0.02, 'float32', 3) as tf.Tensor4D;
  const conv = useTfConv ? tf.conv2d : conv2dByMatMul;
  const work = async () => {
    tf.tidy(() => {
      const [dx, dk] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(conv(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
      )([x, kernel]);
      dx.dataSync();
      dk.dataSync();
    });
  };
  try {
    const name = useTfConv ? 'tf.conv2d gradients (Conv2DBackpropInput/Filter)' : 'conv2dByMatMul gradients';
    const result = await measure(`${name} on ${backend}`, batch, runs, work);
    return { what: `${name}, 3x3 512->512 on 7x7, ${backend}`, batchSize: batch, images: batch, runs, ...result };
  } finally {
    tf.dispose([x, kernel]);
  }
}

/** The rows; leaves the backend as it found it. */
export async function benchFinetune(paths: WeightsPaths, runs: number, measure: Measure): Promise<FinetuneRow[]> {
  const rows: FinetuneRow[] = [];
  const previous = tf.getBackend();
  try {
    for (const backend of [previous, 'cpu'].filter((name, index, all) => all.indexOf(name) === index)) {
      await tf.setBackend(backend);
      const slow = backend === 'cpu'; // pure JS: a few images, one run
      rows.push(await trainingStepRow(paths, backend, slow ? 4 : 32, slow ? 1 : runs, measure));
      rows.push(await gradientRow(backend, false, slow ? 4 : 32, slow ? 1 : runs, measure));
      if (tf.getKernel('Conv2DBackpropFilter', backend))
        rows.push(await gradientRow(backend, true, slow ? 4 : 32, slow ? 1 : runs, measure));
    }
  } finally {
    await tf.setBackend(previous);
  }
  return rows;
}
