import { strict as assert } from 'assert';
import type { EpochLog } from '../lib/head/train';
import { createProgress, describeProgress } from '../lib/view/progress';
import { formatLearningRate, liveTrainingView } from '../lib/view/trainingView';

const full = '█';
const empty = '░';

function bar(filled: number): string {
  return full.repeat(filled) + empty.repeat(30 - filled);
}

describe('progress: bar text and terminal output', () => {
  it('describes a run in progress: bar, counts, percentage, rate, eta and note', () => {
    // 12 of 48 in 6 s: 25%, 2.0/s, 36 left at 2/s = 18 s.
    assert.equal(
      describeProgress('features', 12, 48, 6, '1 skipped'),
      `features ${bar(8)} 12/48 25% | 2.0/s | eta 18s | 1 skipped`,
    );
  });

  it('without a note there is no trailing separator', () => {
    const line = describeProgress('features', 12, 48, 6);
    assert.equal(line, `features ${bar(8)} 12/48 25% | 2.0/s | eta 18s`);
  });

  it('a finished run says how long it took instead of an eta', () => {
    assert.equal(
      describeProgress('backbone', 48, 48, 65, 'done'),
      `backbone ${bar(30)} 48/48 100% | 0.7/s | took 1m05s | done`,
    );
    assert.equal(
      describeProgress('backbone', 2484, 2484, 754.2),
      `backbone ${bar(30)} 2484/2484 100% | 3.3/s | took 12m34s`,
    );
  });

  it('eta in minutes and seconds, unknown (?) before anything is done', () => {
    assert.equal(describeProgress('x', 1, 100, 2), `x ${bar(0)} 1/100 1% | 0.5/s | eta 3m18s`);
    assert.equal(describeProgress('x', 0, 100, 0), `x ${bar(0)} 0/100 0% | eta ?`);
    assert.equal(describeProgress('x', 0, 100, 5), `x ${bar(0)} 0/100 0% | 0.0/s | eta ?`);
  });

  it('the first tick, within a second of the start, shows no rate and no eta yet (not "1000.0/s | eta 0s")', () => {
    assert.equal(describeProgress('x', 1, 66, 0.001), `x ${bar(0)} 1/66 2% | eta ?`);
    assert.equal(describeProgress('x', 1, 66, 0.999), `x ${bar(0)} 1/66 2% | eta ?`);
    assert.equal(describeProgress('x', 2, 66, 1), `x ${bar(1)} 2/66 3% | 2.0/s | eta 32s`);
  });

  it('a run that ends early (early stopping) finishes at the work done, not at the plan', () => {
    assert.equal(
      describeProgress('train', 88, 110, 11, 'stopped after epoch 4 of 5', true),
      `train ${bar(24)} 88/110 80% | 8.0/s | took 11s | stopped after epoch 4 of 5`,
    );
  });

  it('durations round to whole seconds without showing 60s', () => {
    assert.match(describeProgress('x', 10, 10, 59.4), /took 59s$/);
    assert.match(describeProgress('x', 10, 10, 59.6), /took 1m00s$/);
    assert.match(describeProgress('x', 10, 10, 119.7), /took 2m00s$/);
    assert.match(describeProgress('x', 10, 10, 3599.9), /took 60m00s$/);
  });

  it('the bar fills in proportion, rounds, and never overflows', () => {
    assert.ok(describeProgress('x', 1, 3, 1).includes(` ${bar(10)} 1/3 33% `));
    assert.ok(describeProgress('x', 2, 3, 1).includes(` ${bar(20)} 2/3 67% `));
    assert.ok(describeProgress('x', 7, 5, 1).includes(` ${bar(30)} 7/5 100% `), 'more done than planned stays at 100%');
    // Nothing to do counts as done.
    assert.equal(describeProgress('x', 0, 0, 0), `x ${bar(30)} 0/0 100% | took 0s`);
  });

  describe('createProgress', () => {
    let written: string[];
    let originalWrite: typeof process.stderr.write;
    beforeEach(() => {
      written = [];
      originalWrite = process.stderr.write;
      process.stderr.write = ((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }) as typeof process.stderr.write;
    });
    afterEach(() => {
      process.stderr.write = originalWrite;
    });

    it('writes the final line to stderr on finish, with the note', () => {
      const progress = createProgress('features', 3);
      progress.update(1);
      progress.update(2, '1 skipped');
      progress.finish('1 skipped');
      process.stderr.write = originalWrite;
      const last = written[written.length - 1];
      assert.ok(last.endsWith('\n'), JSON.stringify(last));
      assert.match(
        last.replace(/^\r/, ''),
        new RegExp(`^features ${bar(30)} 3/3 100% \\| (?:[\\d.]+/s \\| )?took \\d+s \\| 1 skipped\\n$`),
      );
      // Updates are throttled (4 a second on a terminal, every 10 s in logs): at most one was drawn here.
      assert.ok(written.length <= 2, `${written.length} writes`);
    });

    it('finish(note, done) ends the bar at the items done', () => {
      const progress = createProgress('train', 110);
      progress.update(88);
      progress.finish('stopped after epoch 4 of 5', 88);
      process.stderr.write = originalWrite;
      const last = written[written.length - 1].replace(/^\r/, '');
      assert.match(
        last,
        new RegExp(`^train ${bar(24)} 88/110 80% \\| (?:[\\d.]+/s \\| )?took \\d+s \\| stopped after epoch 4 of 5\\n$`),
      );
    });

    it('training stopped early (4 of 5 epochs): the training bar ends at the 88 batches that ran', () => {
      const originalLog = console.log;
      console.log = () => undefined;
      try {
        const view = liveTrainingView('t', 5);
        const history: EpochLog[] = [];
        for (let epoch = 0; epoch < 4; epoch++) {
          for (let batch = 0; batch < 22; batch++) view.onBatchEnd?.(epoch, batch, 22);
          const log = { loss: 1, accuracy: 0.5, validationLoss: 1, validationAccuracy: 0.5, learningRate: 0.1 };
          history.push({ epoch: epoch + 1, ...log, seconds: 1 });
          void view.onEpochEnd?.(history);
        }
        view.finish();
      } finally {
        console.log = originalLog;
        process.stderr.write = originalWrite;
      }
      assert.match(written[written.length - 1], /88\/110 80% .*took \d+s \| stopped after epoch 4 of 5\n$/);
    });

    it('quiet progress writes nothing', () => {
      const progress = createProgress('features', 3, { quiet: true });
      progress.update(1);
      progress.finish('done');
      process.stderr.write = originalWrite;
      assert.deepEqual(written, []);
    });
  });
});

describe('training lines: learning rates', () => {
  it('print without float noise (0.00003, not 0.000029999999999999997)', () => {
    assert.equal(formatLearningRate(0.0003 * 0.1), '0.00003');
    assert.equal(formatLearningRate(0.0003 * 0.1 * 0.1 * 0.1), '3e-7');
    assert.equal(formatLearningRate(1e-4), '0.0001');
  });
});
