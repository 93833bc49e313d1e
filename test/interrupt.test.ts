import { strict as assert } from 'assert';
import { inspect } from 'util';
import * as tf from '@tensorflow/tfjs';
import { interruptible, InterruptedError, stopIfInterrupted, withInterruptDetail } from '../lib/core/interrupt';
import type { FeatureEngine, FeatureSet } from '../lib/core/contracts';
import { FeatureCache } from '../lib/backbone/featureCache';
import { extractFeatures } from '../lib/backbone/features';
import { buildHead } from '../lib/head/head';
import { trainHeads } from '../lib/head/ensemble';
import { trainHead } from '../lib/head/train';
import { loadConfig } from '../lib/core/config';
import { realTrainValidation, sharedEngine } from './featureFixtures';
import { someXrays, temporaryFolder, tfReady } from './helpers';

/** Sends this process the signal Jupyter sends the kernel on Kernel > Interrupt (and a terminal on Ctrl-C). */
function sigint(): void {
  process.kill(process.pid, 'SIGINT');
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('interrupt: Kernel > Interrupt and Ctrl-C stop long work within one batch', function () {
  this.timeout(120_000);

  it('an InterruptedError prints as its message alone: one line, no stack trace', () => {
    const error = new InterruptedError('training interrupted after epoch 3 of 60');
    assert.equal(inspect(error), 'training interrupted after epoch 3 of 60');
    assert.equal(error.stack, 'InterruptedError: training interrupted after epoch 3 of 60');
  });

  it("takes SIGINT from the handlers already there (tslab's) while work runs, and gives it back after", async () => {
    const calls: string[] = [];
    const tslabLike = () => calls.push('tslab');
    process.on('SIGINT', tslabLike);
    try {
      const before = process.listeners('SIGINT');
      await assert.rejects(
        interruptible(async (signal) => {
          assert.notDeepEqual(process.listeners('SIGINT'), before);
          sigint();
          for (let batch = 0; batch < 1000; batch++) {
            await turn();
            stopIfInterrupted(signal, () => `loop interrupted after batch ${batch}`);
          }
        }),
        (error: unknown) => error instanceof InterruptedError && /interrupted after batch [01]$/.test(error.message),
      );
      assert.deepEqual(calls, [], 'the saved handler did not see the interrupt');
      assert.deepEqual(process.listeners('SIGINT'), before, 'handlers restored');
    } finally {
      process.removeListener('SIGINT', tslabLike);
    }
  });

  it('nested calls share one signal; only the outermost restores the handlers and reports', async () => {
    const before = process.listeners('SIGINT').length;
    await assert.rejects(
      interruptible(async (outer) => {
        const during = process.listeners('SIGINT');
        const value = await interruptible(async (inner) => {
          assert.deepEqual(process.listeners('SIGINT'), during);
          sigint();
          await turn();
          assert.ok(inner.aborted && outer.aborted);
          return 'done';
        });
        assert.equal(value, 'done', 'an inner call that finished returns: the outer loop checks next');
        assert.deepEqual(process.listeners('SIGINT'), during, 'still taken until the outermost call ends');
      }),
      { message: 'interrupted just as the work finished' },
    );
    assert.equal(process.listeners('SIGINT').length, before);
  });

  it('work that finished while an interrupt was pending still ends as interrupted (Run All stops)', async () => {
    await assert.rejects(
      interruptible(
        async () => {
          sigint();
          await turn();
          return 1;
        },
        { finished: 'the count' },
      ),
      { message: 'interrupted just as the count finished' },
    );
  });

  it('withInterruptDetail adds what was kept, said when the interrupt happens', async () => {
    let kept = 0;
    await assert.rejects(
      withInterruptDetail(
        async () => {
          kept = 2;
          throw new InterruptedError('study interrupted');
        },
        () => `; ${kept} trials are saved`,
      ),
      { message: 'study interrupted; 2 trials are saved' },
    );
  });

  describe('the loops of lib, on real X-ray features', () => {
    let train: FeatureSet;
    let validation: FeatureSet;

    before(async () => {
      await tfReady();
      ({ train, validation } = await realTrainValidation());
    });

    it('trainHead: SIGINT in epoch 3 stops after that batch, one-line error, no tensor left behind', async () => {
      const settings = loadConfig({ recipe: 'tuned', epochs: 50, batchSize: 4 }, {});
      const tensorsBefore = tf.memory().numTensors;
      const head = buildHead({ hiddenUnits: [512, 512], classCount: 2, seed: 42 });
      let batchesAfterSignal = -1;
      let epochEnds = 0;
      await assert.rejects(
        trainHead(head, train, validation, settings, {
          onBatchEnd: (epoch, batch) => {
            if (batchesAfterSignal >= 0) batchesAfterSignal++;
            if (epoch === 2 && batch === 1) {
              sigint();
              batchesAfterSignal = 0;
            }
          },
          onEpochEnd: () => {
            epochEnds++;
          },
        }),
        (error: unknown) => {
          assert.ok(error instanceof InterruptedError, String(error));
          assert.equal(error.message, 'training interrupted after epoch 2 of 50');
          return true;
        },
      );
      assert.ok(batchesAfterSignal <= 1, `${batchesAfterSignal} batches ran after the interrupt`);
      assert.equal(epochEnds, 2, 'the cut-short epoch is not reported');
      head.dispose(); // with its optimizer's state (Adam's moments), as after any training
      assert.equal(tf.memory().numTensors, tensorsBefore, 'the interrupted run left tensors behind');
    });

    it('trainHeads (an ensemble) names the head it stopped in and disposes the finished ones', async () => {
      const recipe = { ...loadConfig({ recipe: 'tuned', epochs: 30, batchSize: 4 }, {}), ensembleSize: 3 };
      const tensorsBefore = tf.memory().numTensors;
      const controller = new AbortController();
      await assert.rejects(
        trainHeads(
          recipe,
          { train: train, validation: validation },
          {
            signal: controller.signal,
            hooksFor: (member) => ({
              onBatchEnd: (epoch) => {
                if (member === 1 && epoch === 1) controller.abort();
              },
            }),
          },
        ),
        { message: 'training interrupted after epoch 1 of 30 (head 2 of 3)' },
      );
      assert.equal(tf.memory().numTensors, tensorsBefore);
    });

    it('extractFeatures: stops after the current batch; the batches done stay in the cache and are reused', async () => {
      const inner = await sharedEngine();
      let calls = 0;
      const controller = new AbortController();
      const engine: FeatureEngine = {
        ...inner,
        name: inner.name,
        pooledFeatures: async (input, count) => {
          if (++calls === 2) controller.abort();
          return inner.pooledFeatures(input, count);
        },
        convMaps: (input, count) => inner.convMaps(input, count),
        dispose: async () => undefined,
      };
      const files = someXrays(8).map((xray) => xray.file);
      const folder = temporaryFolder('interrupted-features');
      const cache = FeatureCache.open(folder, 'test');
      await assert.rejects(
        extractFeatures(files, { engine: engine, cache: cache, batchSize: 4, signal: controller.signal }),
        (error: unknown) =>
          error instanceof InterruptedError &&
          error.message.startsWith('feature extraction interrupted after 8 of 16 images; their features are kept'),
      );
      assert.equal(calls, 2, 'no batch ran after the interrupt');
      const again = await extractFeatures(files, {
        engine: inner,
        cache: FeatureCache.open(folder, 'test'),
        batchSize: 4,
      });
      assert.equal(again.reused, 8);
      assert.equal(again.computed, 8);
    });
  });
});
