/**
 * What the user sees of the explanation checks: deletion/insertion curves, the histogram of CAM
 * energy inside the central region, and the tables (faithfulness, sanity, shortcut audit). Plain
 * data in, PNG bytes or HTML out; the numbers come from lib/pipeline/explain.ts and audit.ts.
 */
import { htmlTable } from './display';
import { lineChart, LineSeries } from './lineChart';

export interface Interval {
  mean: number;
  low: number;
  high: number;
  n: number;
}

export interface FaithfulnessRow {
  deletion: Interval;
  insertion: Interval;
  difference: Interval;
  meanCurves: { fractions: number[]; deletion: number[]; insertion: number[] };
}

const interval = (value: Interval, digits = 3) =>
  `${value.mean.toFixed(digits)} (${value.low.toFixed(digits)}–${value.high.toFixed(digits)})`;

/** Mean class-probability curves of every method: deletion and insertion, one chart each. */
export function faithfulnessCharts(
  methods: Record<string, FaithfulnessRow | undefined>,
  labels: Record<string, string>,
): { deletion: Buffer; insertion: Buffer } {
  const series = (which: 'deletion' | 'insertion'): LineSeries[] =>
    Object.entries(methods)
      .filter((entry): entry is [string, FaithfulnessRow] => entry[1] !== undefined)
      .map(([name, row]) => ({
        name: labels[name] ?? name,
        x: row.meanCurves.fractions,
        y: row.meanCurves[which],
        dashed: name === 'random',
      }));
  const chart = (which: 'deletion' | 'insertion', title: string) =>
    lineChart({
      title,
      xLabel: `fraction of pixels ${which === 'deletion' ? 'turned grey' : 'restored'}, most relevant first`,
      yLabel: 'probability of the true class (mean)',
      series: series(which),
      xDomain: [0, 1],
      yDomain: [0, 1],
    });
  return {
    deletion: chart('deletion', 'Deletion: a faithful map loses the class fastest (lower area is better)'),
    insertion: chart('insertion', 'Insertion: a faithful map regains the class fastest (higher area is better)'),
  };
}

/** Table: per method, deletion and insertion areas with 95% bootstrap intervals. */
export function faithfulnessTable(
  methods: Record<string, FaithfulnessRow | undefined>,
  labels: Record<string, string>,
): string {
  const rows = Object.entries(methods)
    .filter((entry): entry is [string, FaithfulnessRow] => entry[1] !== undefined)
    .sort((a, b) => b[1].difference.mean - a[1].difference.mean)
    .map(([name, row]) => [
      labels[name] ?? name,
      row.deletion.n,
      interval(row.deletion),
      interval(row.insertion),
      interval(row.difference),
    ]);
  return htmlTable(
    ['method', 'images', 'deletion area (lower better)', 'insertion area (higher better)', 'insertion − deletion'],
    rows,
  );
}

/** Table: per method, Spearman / SSIM with the trained maps at each randomisation stage, and the verdict. */
export function sanityTable(
  methods: Record<string, Record<string, { spearman: number; ssim: number }> | undefined>,
  passed: Record<string, boolean | undefined>,
  stages: string[],
  labels: Record<string, string>,
): string {
  const rows = Object.entries(methods)
    .filter((entry): entry is [string, Record<string, { spearman: number; ssim: number }>] => entry[1] !== undefined)
    .map(([name, byStage]) => [
      labels[name] ?? name,
      ...stages.map((stage) => `${byStage[stage].spearman.toFixed(2)} / ${byStage[stage].ssim.toFixed(2)}`),
      passed[name] ? 'passes' : 'FAILS',
    ]);
  return htmlTable(
    [
      'method',
      ...stages.map((stage) => `${stage} randomised`.replace('shuffled labels randomised', 'shuffled labels')),
      'verdict',
    ],
    rows,
  );
}

/** Histogram of the share of CAM energy inside the region, per method (colour) and class (solid/dashed). */
export function energyHistogram(
  values: Record<string, { label: number; share: number }[]>,
  classNames: string[],
  labels: Record<string, string>,
  regionArea: number,
  bins = 20,
): Buffer {
  const centres = Array.from({ length: bins }, (_, i) => (i + 0.5) / bins);
  const series: LineSeries[] = [];
  for (const [name, records] of Object.entries(values)) {
    classNames.forEach((className, label) => {
      const shares = records.filter((r) => r.label === label && Number.isFinite(r.share)).map((r) => r.share);
      const counts = new Array<number>(bins).fill(0);
      for (const share of shares) counts[Math.min(bins - 1, Math.floor(share * bins))]++;
      series.push({
        name: `${labels[name] ?? name}, ${className}`,
        x: centres,
        y: counts.map((count) => count / (shares.length || 1)),
        dashed: label > 0,
      });
    });
  }
  return lineChart({
    title: `Share of heatmap energy inside the central region (a flat map: ${regionArea.toFixed(2)})`,
    xLabel: 'share of the heatmap inside the region, per test image',
    yLabel: 'fraction of test images',
    series,
    xDomain: [0, 1],
  });
}

/** Table: the shortcut audit's accuracy and AUC per region variant. */
export function auditTable(
  whole: { accuracy: number; auc: number; n: number },
  regions: { region: string; area: number; regionOut: typeof whole; regionOnly: typeof whole }[],
): string {
  const row = (what: string, scores: typeof whole) => [
    what,
    scores.n,
    scores.accuracy.toFixed(3),
    scores.auc.toFixed(3),
  ];
  return htmlTable(
    ['test images', 'n', 'accuracy', 'ROC AUC'],
    [
      row('whole image', whole),
      ...regions.flatMap((region) => [
        row(`${region.region} blacked out (only the border left)`, region.regionOut),
        row(`only the ${region.region} kept`, region.regionOnly),
      ]),
    ],
  );
}

/** Table: mean share of CAM energy inside the region, per method and class. */
export function energyTable(
  summary: Record<string, Record<string, { mean: number; n: number }>>,
  classNames: string[],
  labels: Record<string, string>,
): string {
  return htmlTable(
    ['method', ...classNames.map((name) => `${name} (mean share)`)],
    Object.entries(summary).map(([name, byClass]) => [
      labels[name] ?? name,
      ...classNames.map((className) => `${byClass[className].mean.toFixed(3)} (n ${byClass[className].n})`),
    ]),
  );
}
