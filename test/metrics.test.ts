import { strict as assert } from 'assert';
import { UserFacingError } from '../lib/core/errors';
import {
  averagePrecision,
  binaryMetrics,
  bootstrapConfidenceIntervals,
  calibration,
  chooseThreshold,
  confusionMatrix,
  evaluateScreening,
  positiveColumn,
  precisionRecallCurve,
  predictLabels,
  rocAuc,
  rocCurve,
} from '../lib/evaluate';
import { createRandom } from '../lib/core/random';

const COVID = 0;
const NORMAL = 1;

function assertClose(actual: number, expected: number, message?: string, tolerance = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${message ?? ''} expected ${expected}, got ${actual}`);
}

/** Brute-force Mann-Whitney probability (ties 1/2), the definition rocAuc must match. */
function mannWhitneyProbability(labels: number[], scores: number[], positiveClass = 0): number {
  let favourable = 0;
  let pairs = 0;
  labels.forEach((labelA, a) => {
    if (labelA !== positiveClass) return;
    labels.forEach((labelB, b) => {
      if (labelB === positiveClass) return;
      pairs++;
      if (scores[a] > scores[b]) favourable += 1;
      else if (scores[a] === scores[b]) favourable += 0.5;
    });
  });
  return favourable / pairs;
}

/** A noisy but useful classifier: positives (COVID) score higher on average. */
function syntheticScreening(count: number, seed: number): { labels: number[]; probabilities: number[] } {
  const random = createRandom(seed);
  const labels: number[] = [];
  const probabilities: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = random() < 0.45 ? COVID : NORMAL;
    const centre = label === COVID ? 0.7 : 0.3;
    labels.push(label);
    probabilities.push(Math.min(1, Math.max(0, centre + (random() - 0.5) * 0.8)));
  }
  return { labels, probabilities };
}

describe('metrics', () => {
  describe('confusionMatrix and predictLabels', () => {
    it('counts rows as true classes and columns as predicted classes', () => {
      assert.deepEqual(confusionMatrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 2), [
        [1, 1],
        [1, 2],
      ]);
    });

    it('predicts the positive class at probability >= threshold, the other class below', () => {
      assert.deepEqual(predictLabels([0.9, 0.5, 0.49]), [COVID, COVID, NORMAL]);
      assert.deepEqual(predictLabels([0.9, 0.5, 0.49], { positiveClass: NORMAL }), [NORMAL, NORMAL, COVID]);
      assert.deepEqual(predictLabels([0.9, 0.5, 0.49], { threshold: 0.95 }), [NORMAL, NORMAL, NORMAL]);
    });

    it('takes the positive column of softmax rows', () => {
      assert.deepEqual(
        positiveColumn([
          [0.8, 0.2],
          [0.1, 0.9],
        ]),
        [0.8, 0.1],
      );
      assert.deepEqual(
        positiveColumn(
          [
            [0.8, 0.2],
            [0.1, 0.9],
          ],
          NORMAL,
        ),
        [0.2, 0.9],
      );
    });

    it('rejects out-of-range labels with a message naming the entry', () => {
      assert.throws(() => confusionMatrix([0, 2], [0, 1], 2), /trueLabels\[1\] is 2/);
      assert.throws(() => confusionMatrix([0], [0, 1], 2), UserFacingError);
    });
  });

  describe('binaryMetrics', () => {
    it('matches a hand-computed confusion matrix (tp 3, fn 1, fp 2, tn 4)', () => {
      const labels = [COVID, COVID, COVID, COVID, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL];
      const probabilities = [0.9, 0.8, 0.6, 0.2, 0.7, 0.55, 0.4, 0.3, 0.1, 0.05];
      const metrics = binaryMetrics(labels, probabilities);
      assert.deepEqual([metrics.tp, metrics.fn, metrics.fp, metrics.tn], [3, 1, 2, 4]);
      assertClose(metrics.sensitivity, 0.75);
      assertClose(metrics.specificity, 4 / 6);
      assertClose(metrics.ppv, 3 / 5);
      assertClose(metrics.npv, 4 / 5);
      assertClose(metrics.f1, 6 / 9);
      assertClose(metrics.accuracy, 0.7);
      assertClose(metrics.balancedAccuracy, (0.75 + 4 / 6) / 2);
    });

    it('counts a probability exactly at the threshold as positive', () => {
      assert.equal(binaryMetrics([COVID], [0.5]).tp, 1);
    });

    it('swaps roles when NORMAL is the positive class', () => {
      const metrics = binaryMetrics([COVID, NORMAL], [0.2, 0.9], { positiveClass: NORMAL });
      assert.deepEqual([metrics.tp, metrics.tn, metrics.fp, metrics.fn], [1, 1, 0, 0]);
    });

    it('gives NaN, not an exception, for undefined ratios', () => {
      const noPositives = binaryMetrics([NORMAL, NORMAL], [0.1, 0.7]);
      assert.ok(Number.isNaN(noPositives.sensitivity));
      assert.ok(Number.isNaN(noPositives.balancedAccuracy));
      assertClose(noPositives.specificity, 0.5);
      assert.ok(Number.isNaN(binaryMetrics([COVID], [0.1]).ppv), 'nothing predicted positive: ppv 0/0');
      const empty = binaryMetrics([], []);
      assert.ok(Number.isNaN(empty.accuracy) && Number.isNaN(empty.f1));
    });

    it('rejects mismatched lengths, bad labels and bad probabilities', () => {
      assert.throws(() => binaryMetrics([0, 1], [0.5]), /2 entries.*1/);
      assert.throws(() => binaryMetrics([2], [0.5]), /trueLabels\[0\] is 2/);
      assert.throws(() => binaryMetrics([0], [1.2]), /positiveProbabilities\[0\] is 1.2/);
      assert.throws(() => binaryMetrics([0], [NaN]), UserFacingError);
      assert.throws(() => binaryMetrics([0], [0.5], { positiveClass: 2 }), UserFacingError);
    });
  });

  describe('ROC', () => {
    it('gives AUC 0.75 on a hand case with tied scores', () => {
      // COVID 0.5, 0.5 vs NORMAL 0.5, 0.2: pairs 1/2 + 1/2 + 1 + 1 = 3 of 4.
      const labels = [COVID, COVID, NORMAL, NORMAL];
      const probabilities = [0.5, 0.5, 0.5, 0.2];
      assertClose(rocAuc(labels, probabilities), 0.75);
      const points = rocCurve(labels, probabilities).map((p) => [p.threshold, p.falsePositiveRate, p.truePositiveRate]);
      assert.deepEqual(points, [
        [Infinity, 0, 0],
        [0.5, 0.5, 1],
        [0.2, 1, 1],
      ]);
    });

    it('does not depend on the order of tied cases', () => {
      const labels = [NORMAL, COVID, NORMAL, COVID];
      const probabilities = [0.5, 0.5, 0.2, 0.5];
      assertClose(rocAuc(labels, probabilities), 0.75);
    });

    it('equals the Mann-Whitney probability on random data with many ties', () => {
      const random = createRandom(7);
      const labels = Array.from({ length: 300 }, () => (random() < 0.4 ? COVID : NORMAL));
      const probabilities = labels.map((label) => Math.round((label === COVID ? 0.2 : 0) + random() * 0.8 * 10) / 10);
      assertClose(rocAuc(labels, probabilities), mannWhitneyProbability(labels, probabilities), 'class 0', 1e-12);
      assertClose(
        rocAuc(
          labels,
          probabilities.map((p) => 1 - p),
          { positiveClass: NORMAL },
        ),
        mannWhitneyProbability(
          labels,
          probabilities.map((p) => 1 - p),
          NORMAL,
        ),
        'class 1',
        1e-12,
      );
    });

    it('gives 1 for a perfect classifier and 0 for an inverted one', () => {
      const labels = [COVID, COVID, NORMAL, NORMAL];
      assert.equal(rocAuc(labels, [0.9, 0.8, 0.3, 0.1]), 1);
      assert.equal(rocAuc(labels, [0.1, 0.3, 0.8, 0.9]), 0);
      assert.equal(rocAuc(labels, [0.5, 0.5, 0.5, 0.5]), 0.5);
    });

    it('gives NaN AUC when a class is missing', () => {
      assert.ok(Number.isNaN(rocAuc([NORMAL, NORMAL], [0.2, 0.6])));
      assert.ok(Number.isNaN(rocAuc([COVID, COVID], [0.2, 0.6])));
      assert.ok(Number.isNaN(rocAuc([], [])));
    });
  });

  describe('precision-recall', () => {
    // scikit-learn's documented example: y_true [0 0 1 1], scores [0.1 0.4 0.35 0.8] -> AP 0.8333.
    const labels = [NORMAL, NORMAL, COVID, COVID];
    const probabilities = [0.1, 0.4, 0.35, 0.8];

    it("matches scikit-learn's step-wise average precision on its documented example", () => {
      assertClose(averagePrecision(labels, probabilities), 0.5 * 1 + 0.5 * (2 / 3));
      assertClose(rocAuc(labels, probabilities), 0.75);
    });

    it('lists curve points with recall rising from (0, 1)', () => {
      const points = precisionRecallCurve(labels, probabilities).map((p) => [p.threshold, p.recall, p.precision]);
      assert.deepEqual(points, [
        [Infinity, 0, 1],
        [0.8, 0.5, 1],
        [0.4, 0.5, 0.5],
        [0.35, 1, 2 / 3],
        [0.1, 1, 0.5],
      ]);
    });

    it('gives 1 for a perfect ranking and NaN without positives', () => {
      assert.equal(averagePrecision([COVID, NORMAL], [0.9, 0.1]), 1);
      assert.ok(Number.isNaN(averagePrecision([NORMAL, NORMAL], [0.9, 0.1])));
    });
  });

  describe('calibration', () => {
    it('matches a hand-computed Brier score', () => {
      // Outcomes 1, 1, 0, 1 against 1, 0.8, 0.3, 0: (0 + 0.04 + 0.09 + 1) / 4.
      const result = calibration([COVID, COVID, NORMAL, COVID], [1, 0.8, 0.3, 0]);
      assertClose(result.brierScore, 0.2825);
    });

    it('matches hand-computed reliability bins and ECE', () => {
      // Two bins: [0, 0.5) holds 0.1 (neg), 0.2 (pos); [0.5, 1] holds 0.7, 0.9 (both pos).
      const result = calibration([NORMAL, COVID, COVID, COVID], [0.1, 0.2, 0.7, 0.9], 2);
      assert.equal(result.bins.length, 2);
      assertClose(result.bins[0].meanPredicted, 0.15);
      assertClose(result.bins[0].fractionPositive, 0.5);
      assert.equal(result.bins[0].count, 2);
      assertClose(result.bins[1].meanPredicted, 0.8);
      assertClose(result.bins[1].fractionPositive, 1);
      assertClose(result.expectedCalibrationError, 0.5 * 0.35 + 0.5 * 0.2);
    });

    it('puts probability 1 in the last bin and marks empty bins with NaN', () => {
      const result = calibration([COVID], [1]);
      assert.equal(result.bins[9].count, 1);
      assert.ok(Number.isNaN(result.bins[0].meanPredicted));
      assert.equal(result.expectedCalibrationError, 0);
      assert.equal(result.brierScore, 0);
      assert.ok(Number.isNaN(calibration([], []).brierScore));
    });
  });

  describe('bootstrapConfidenceIntervals', () => {
    const { labels, probabilities } = syntheticScreening(200, 3);

    it('is deterministic for a fixed seed and changes with the seed', () => {
      const first = bootstrapConfidenceIntervals(labels, probabilities, { resamples: 200, seed: 11 });
      const again = bootstrapConfidenceIntervals(labels, probabilities, { resamples: 200, seed: 11 });
      const other = bootstrapConfidenceIntervals(labels, probabilities, { resamples: 200, seed: 12 });
      assert.deepEqual(first, again);
      assert.notDeepEqual(first.intervals.auc, other.intervals.auc);
    });

    it('brackets the point estimate of every metric on a reasonable case', () => {
      const result = bootstrapConfidenceIntervals(labels, probabilities, { resamples: 500, seed: 1 });
      assertClose(result.intervals.auc.value, rocAuc(labels, probabilities));
      assertClose(result.intervals.sensitivity.value, binaryMetrics(labels, probabilities).sensitivity);
      for (const [name, interval] of Object.entries(result.intervals)) {
        assert.equal(interval.resamplesUsed, 500, name);
        assert.ok(
          interval.lower < interval.value && interval.value < interval.upper,
          `${name}: ${JSON.stringify(interval)}`,
        );
      }
      assert.ok(
        result.intervals.auc.upper - result.intervals.auc.lower < 0.2,
        'n = 200 gives a usefully narrow AUC interval',
      );
    });

    it('skips resamples where a metric is undefined and reports how many were used', () => {
      // One positive in 20 cases: about (19/20)^20 = 36% of resamples draw no positive at all.
      const fewLabels = [COVID, ...new Array<number>(19).fill(NORMAL)];
      const fewProbabilities = [0.9, ...Array.from({ length: 19 }, (_, i) => i / 20)];
      const result = bootstrapConfidenceIntervals(fewLabels, fewProbabilities, { resamples: 300, seed: 5 });
      const used = result.intervals.sensitivity.resamplesUsed;
      assert.ok(used > 100 && used < 250, `sensitivity used ${used} of 300`);
      assert.equal(result.intervals.auc.resamplesUsed, used);
      assert.equal(result.intervals.specificity.resamplesUsed, 300);
    });

    it('gives NaN bounds when a metric is never defined', () => {
      const result = bootstrapConfidenceIntervals([NORMAL, NORMAL, NORMAL], [0.1, 0.2, 0.3], { resamples: 20 });
      assert.equal(result.intervals.sensitivity.resamplesUsed, 0);
      assert.ok(Number.isNaN(result.intervals.sensitivity.lower));
      assert.ok(Number.isNaN(result.intervals.auc.value));
    });
  });

  describe('chooseThreshold', () => {
    // COVID 0.9, 0.8, 0.4 and NORMAL 0.7, 0.3, 0.2: Youden 2/3 at 0.8 and at 0.4.
    const labels = [COVID, COVID, COVID, NORMAL, NORMAL, NORMAL];
    const probabilities = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2];

    it('picks the highest threshold with the best Youden index', () => {
      const chosen = chooseThreshold(labels, probabilities, { method: 'youden' });
      assert.equal(chosen.threshold, 0.8);
      assertClose(chosen.sensitivity, 2 / 3);
      assertClose(chosen.specificity, 1);
      assertClose(chosen.youdenIndex, 2 / 3);
    });

    it('picks the highest threshold that reaches a target sensitivity', () => {
      const all = chooseThreshold(labels, probabilities, { method: 'sensitivity', target: 1 });
      assert.equal(all.threshold, 0.4);
      assertClose(all.specificity, 2 / 3);
      assert.equal(chooseThreshold(labels, probabilities, { method: 'sensitivity', target: 0.5 }).threshold, 0.8);
      const chosen = chooseThreshold(labels, probabilities, { method: 'sensitivity', target: 2 / 3 });
      assert.equal(chosen.threshold, 0.8);
      assert.equal(
        binaryMetrics(labels, probabilities, { threshold: chosen.threshold }).sensitivity,
        chosen.sensitivity,
      );
    });

    it('refuses data without both classes and impossible targets', () => {
      assert.throws(() => chooseThreshold([NORMAL, NORMAL], [0.1, 0.2], { method: 'youden' }), UserFacingError);
      assert.throws(
        () => chooseThreshold(labels, probabilities, { method: 'sensitivity', target: 1.5 }),
        UserFacingError,
      );
    });
  });

  describe('evaluateScreening', () => {
    const { labels, probabilities } = syntheticScreening(895, 9);

    it('bundles metrics at 0.5 and at a chosen threshold into JSON-serialisable output', function () {
      this.timeout(10000);
      const chosen = chooseThreshold(labels.slice(0, 300), probabilities.slice(0, 300), {
        method: 'sensitivity',
        target: 0.95,
      });
      const evaluation = evaluateScreening(labels, probabilities, {
        chosenThreshold: { threshold: chosen.threshold, description: 'sensitivity >= 0.95 on validation' },
        bootstrap: { resamples: 300, seed: 4 },
      });
      assert.equal(evaluation.counts.total, 895);
      assert.equal(evaluation.counts.positives + evaluation.counts.negatives, 895);
      assert.deepEqual(evaluation.classNames, ['COVID', 'NORMAL']);
      assert.equal(evaluation.atDefaultThreshold.threshold, 0.5);
      assert.deepEqual(evaluation.atDefaultThreshold.metrics, binaryMetrics(labels, probabilities));
      const matrix = evaluation.atDefaultThreshold.confusionMatrix;
      assert.deepEqual(matrix, [
        [evaluation.atDefaultThreshold.metrics.tp, evaluation.atDefaultThreshold.metrics.fn],
        [evaluation.atDefaultThreshold.metrics.fp, evaluation.atDefaultThreshold.metrics.tn],
      ]);
      assert.ok(evaluation.atChosenThreshold);
      assert.equal(evaluation.atChosenThreshold.threshold, chosen.threshold);
      assert.ok(evaluation.atChosenThreshold.metrics.sensitivity > evaluation.atDefaultThreshold.metrics.sensitivity);
      assertClose(evaluation.auc, rocAuc(labels, probabilities));
      assertClose(evaluation.atDefaultThreshold.confidenceIntervals.auc.value, evaluation.auc);
      assert.equal(evaluation.calibration.bins.length, 10);

      const roundTrip = JSON.parse(JSON.stringify(evaluation));
      assert.equal(roundTrip.atDefaultThreshold.metrics.tp, evaluation.atDefaultThreshold.metrics.tp);
      assert.equal(roundTrip.roc[0].threshold, null, 'Infinity is written as null');
    });

    it('leaves atChosenThreshold null when no threshold is given', () => {
      const evaluation = evaluateScreening([COVID, NORMAL], [0.8, 0.3], { bootstrap: { resamples: 10 } });
      assert.equal(evaluation.atChosenThreshold, null);
      assert.equal(evaluation.auc, 1);
    });
  });
});
