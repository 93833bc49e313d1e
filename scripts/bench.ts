/**
 * Benchmark of the frozen-backbone feature extraction (`npm run bench`):
 *   - decode + preprocess alone (sharp, the pipeline's concurrency),
 *   - the tfjs backbone on wasm (and on the pure-JS cpu backend, 1 image only: about 10 s an image),
 *   - ONNX Runtime at 1 thread and at all threads, for several batch sizes,
 *   - end to end: pooled features of every image in the data folder, decoding overlapped with
 *     ONNX Runtime inference, in a child process so its peak RSS is its own.
 * Each figure is the median images/s of several timed runs after untimed warm-up (at least one
 * run and one second).
 * Prints a table and writes it as JSON to outputs/bench/.
 *
 *   tsx scripts/bench.ts [--batch-size 8] [--batch-sizes 1,4,8,16] [--runs 5] [--images 32]
 *                        [--prefetch 2] [--data DIR] [--no-cpu] [--no-tfjs] [--no-e2e] [--e2e-limit N]
 *                        [--no-npm-start] [--no-finetune] [--no-explain]
 *
 * Fine-tuning rows (scripts/benchFinetune.ts): a conv5_block3 + head training step per tfjs backend
 * (with the seconds per epoch of 1,430 images it implies) and the convolution gradients.
 *
 * Last, the whole `npm start` (all five notebooks on the data folder) is timed twice: with a cold
 * feature cache (a new, empty cache folder) and then warm (the same folder, now filled). Its outputs go
 * to a temporary folder, so the user's outputs/ are left alone. This part takes several minutes.
 *                        [--wait-idle SECONDS]
 *
 * The numbers are only meaningful on an otherwise idle machine: each row records how many cores
 * other processes kept busy meanwhile ("other load"). On a shared machine, --wait-idle N waits
 * up to N seconds for the others to quiet down before each measurement, and measures again
 * (up to 3 times) when they got busy during it.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomic } from '../lib/core/atomic';
import { currentBackend, initBackend } from '../lib/core/backend';
import { Config, loadConfig, resolveFeatureBatchSize } from '../lib/core/config';
import { outputPaths } from '../lib/core/paths';
import { absolutePath, scanDataset } from '../lib/data/dataset';
import { TfjsFeatureEngine } from '../lib/backbone/engine';
import { describeError } from '../lib/core/errors';
import { InterruptedError } from '../lib/core/interrupt';
import { preprocessedBatches } from '../lib/backbone/featurePipeline';
import { OnnxFeatureEngine } from '../lib/backbone/onnxEngine';
import type { Int8BuildOptions } from '../lib/backbone/onnxInt8';
import { int8BuildOptions } from '../lib/pipeline/backbone';
import { ensureWeights, WeightsPaths } from '../lib/backbone/weights';
import { featureLength, imageValues } from '../lib/core/contracts';
import { loadSplit } from '../lib/data/dataset';
import { openBackbone } from '../lib/pipeline/backbone';
import { runExplanations } from '../lib/pipeline/explainRun';
import { openModel } from '../lib/pipeline/model';
import { CommandSpec, integerFlag, parseArgs, stringFlag, UsageError } from './cli';
import { benchFinetune } from './benchFinetune';

interface Options {
  batchSize: number;
  batchSizes: number[];
  runs: number;
  images: number;
  dataDir: string;
  cpu: boolean;
  tfjs: boolean;
  e2e: boolean;
  e2eLimit: number;
  /** Time the whole `npm start` with a cold and a warm feature cache. */
  npmStart: boolean;
  /** Fine-tuning rows (scripts/benchFinetune.ts). */
  finetune: boolean;
  /** Batches decoded ahead in the end-to-end run (0: no overlap, for comparison). */
  prefetch: number;
  /** Seconds to wait for an idle machine before each measurement (0: measure at once). */
  waitIdle: number;
  /** Time notebook 05's explanation checks (faithfulness, sanity, shortcut audit) on the saved model. */
  explain: boolean;
  /** Internal: run only the end-to-end measurement and print its result as JSON. */
  e2eChild: boolean;
  /** Also measure the int8 backbone (onnxruntime-int8), back to back with float32. */
  int8: boolean;
  /** Internal: the end-to-end child's backbone precision. */
  precision: 'float32' | 'int8';
}

interface Row {
  what: string;
  batchSize: number | null;
  threads: number | null;
  images: number;
  runs: number;
  imagesPerSecond: number;
  /** Every timed run, images/s. */
  samples: number[];
  note?: string;
  peakRssMiB?: number;
  seconds?: number;
  /** Cores kept busy by other processes during the timed runs (0 on an idle machine); null off Linux. */
  otherBusyCores: number | null;
}

const spec: CommandSpec = {
  name: 'bench',
  summary: 'Benchmarks: decoding, the backbone on each engine and batch size, end-to-end extraction, npm start.',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    { name: 'batch-size', value: 'n', description: 'batch of the tfjs and end-to-end rows (default 8)' },
    { name: 'batch-sizes', value: 'list', description: 'ONNX Runtime batch sizes, comma-separated (default 1,4,8,16)' },
    { name: 'runs', value: 'n', description: 'timed runs per row after a warm-up (default 5)' },
    { name: 'images', value: 'n', description: 'images per timed run (default 32)' },
    { name: 'data', value: 'folder', description: 'class folders to read (default: config dataDir, CXR_DATA_DIR)' },
    { name: 'e2e-limit', value: 'n', description: 'end-to-end run on the first n images only' },
    { name: 'prefetch', value: 'n', description: 'batches decoded ahead in the end-to-end run (0: no overlap)' },
    { name: 'wait-idle', value: 's', description: 'wait up to s seconds for an idle machine before each row' },
    { name: 'no-cpu', description: 'skip the pure-JS cpu backend row' },
    { name: 'no-tfjs', description: 'skip every tfjs row' },
    { name: 'no-e2e', description: 'skip the end-to-end extraction' },
    { name: 'no-npm-start', description: 'skip timing npm start' },
    { name: 'no-int8', description: 'skip the int8 backbone rows' },
    { name: 'no-finetune', description: 'skip the fine-tuning rows (training step, convolution gradients)' },
    {
      name: 'no-explain',
      description: "skip timing notebook 05's explanation checks (needs outputs/model and outputs/split.json)",
    },
    { name: 'e2e-child', description: '(internal) run only the end-to-end measurement, print JSON' },
    { name: 'precision', value: 'p', choices: ['float32', 'int8'], description: '(internal) end-to-end precision' },
  ],
};

function parseArguments(argv: string[], config: Config): Options {
  const args = parseArgs(argv, spec);
  const whole = (name: string, fallback: number, min = 1) => integerFlag(args, spec, name, fallback, min);
  const batchSizes = stringFlag(args, 'batch-sizes');
  const parsedSizes = batchSizes?.split(',').map(Number);
  if (parsedSizes && !parsedSizes.every((size) => Number.isInteger(size) && size >= 1)) {
    throw new UsageError(`--batch-sizes must be positive whole numbers separated by commas, not "${batchSizes}"`, spec);
  }
  const noTfjs = args.flags['no-tfjs'] === true;
  return {
    batchSize: whole('batch-size', 8),
    batchSizes: parsedSizes ?? [1, 4, 8, 16],
    runs: whole('runs', 5),
    images: whole('images', 32),
    dataDir: path.resolve(stringFlag(args, 'data') ?? config.dataDir),
    cpu: !noTfjs && args.flags['no-cpu'] !== true,
    tfjs: !noTfjs,
    e2e: args.flags['no-e2e'] !== true,
    npmStart: args.flags['no-npm-start'] !== true,
    finetune: !noTfjs && args.flags['no-finetune'] !== true,
    explain: args.flags['no-explain'] !== true,
    e2eLimit: whole('e2e-limit', 0, 0),
    prefetch: whole('prefetch', 2, 0),
    waitIdle: whole('wait-idle', 0, 0),
    e2eChild: args.flags['e2e-child'] === true,
    int8: args.flags['no-int8'] !== true,
    precision: stringFlag(args, 'precision') === 'int8' ? 'int8' : 'float32',
  };
}

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Busy CPU seconds of the whole machine so far, from /proc/stat (Linux); undefined elsewhere. */
function machineBusySeconds(): number | undefined {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Watches how much CPU other processes use while we measure: machine-wide busy time minus
 * this process's own (children that report their own, like the end-to-end run, are excluded by the caller).
 */
function watchOtherLoad(): () => number | null {
  const machineBefore = machineBusySeconds();
  const ownBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  return () => {
    const machineAfter = machineBusySeconds();
    if (machineBefore === undefined || machineAfter === undefined) return null;
    const own = process.cpuUsage(ownBefore);
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    return Math.max(0, (machineAfter - machineBefore - (own.user + own.system) / 1e6) / wall);
  };
}

/** Other processes above this many busy cores make a measurement suspect. */
const busyThreshold = 0.25;
let waitIdleSeconds = 0;

/** Waits (up to --wait-idle seconds) until other processes use less than busyThreshold cores. */
async function waitForIdle(): Promise<void> {
  const deadline = Date.now() + waitIdleSeconds * 1000;
  let lastSaid = 0;
  while (Date.now() < deadline) {
    const otherLoad = watchOtherLoad();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const busy = otherLoad();
    if (busy === null || busy < busyThreshold) return;
    if (Date.now() - lastSaid > 15_000) {
      lastSaid = Date.now();
      progress(`waiting for an idle machine: other processes use ${busy.toFixed(2)} cores`);
    }
  }
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

/** Every image of each class folder, sorted, so runs compare like with like. */
function listImages(dataDir: string): string[] {
  const dataset = scanDataset(dataDir);
  return dataset.images.map((image) => absolutePath(dataset.root, image));
}

/** Untimed warm-up, then `runs` timed runs of `work`, which processes `images` images. */
async function measure(
  label: string,
  images: number,
  runs: number,
  work: () => Promise<void>,
): Promise<{ imagesPerSecond: number; samples: number[]; otherBusyCores: number | null }> {
  for (let attempt = 1; ; attempt++) {
    await waitForIdle();
    // Warm-up: at least one run and one second (first runs pay for allocation and caches).
    const warmUpEnd = Date.now() + 1000;
    do await work();
    while (Date.now() < warmUpEnd);
    const otherLoad = watchOtherLoad();
    const samples: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const started = process.hrtime.bigint();
      await work();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      samples.push(images / seconds);
      progress(`${label}: run ${run}/${runs}: ${(images / seconds).toFixed(1)} images/s`);
    }
    const otherBusyCores = otherLoad();
    if (!waitIdleSeconds || otherBusyCores === null || otherBusyCores < busyThreshold || attempt === 3) {
      return { imagesPerSecond: median(samples), samples, otherBusyCores };
    }
    progress(`${label}: other processes used ${otherBusyCores.toFixed(2)} cores meanwhile; measuring again`);
  }
}

/** Decodes `files` into one input array (for the inference-only measurements). */
async function decodeAll(files: string[]): Promise<Float32Array> {
  const input = new Float32Array(files.length * imageValues);
  let row = 0;
  for await (const batch of preprocessedBatches(files, { batchSize: 16 })) {
    if (batch.skipped.length)
      throw new Error(`cannot read ${batch.skipped.map((entry) => `${entry.file} (${entry.reason})`).join(', ')}`);
    input.set(batch.input, row * imageValues);
    row += batch.count;
  }
  return input;
}

/** Runs `engine` over `count` images of `input` in batches of `batchSize`. */
async function forwardAll(
  engine: { pooledFeatures(input: Float32Array, count: number): Promise<Float32Array> },
  input: Float32Array,
  count: number,
  batchSize: number,
): Promise<void> {
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    await engine.pooledFeatures(input.subarray(start * imageValues, (start + size) * imageValues), size);
  }
}

async function benchDecode(files: string[], options: Options): Promise<Row> {
  const result = await measure(
    `decode+preprocess (batch ${options.batchSize})`,
    files.length,
    options.runs,
    async () => {
      for await (const batch of preprocessedBatches(files, { batchSize: options.batchSize })) void batch;
    },
  );
  return {
    what: 'decode + preprocess (sharp, pipeline)',
    batchSize: options.batchSize,
    threads: null,
    images: files.length,
    runs: options.runs,
    ...result,
  };
}

async function benchTfjs(paths: WeightsPaths, input: Float32Array, count: number, options: Options): Promise<Row[]> {
  const rows: Row[] = [];
  await initBackend('wasm', progress);
  const wasmImages = Math.min(count, 8);
  const wasmRuns = Math.min(options.runs, 3); // about 3 s a run
  const wasmBatch = Math.min(options.batchSize, wasmImages);
  let engine = await TfjsFeatureEngine.create(paths);
  const wasm = await measure(`tfjs wasm (batch ${wasmBatch})`, wasmImages, wasmRuns, () =>
    forwardAll(engine, input, wasmImages, wasmBatch),
  );
  await engine.dispose();
  rows.push({
    what: 'tfjs backbone, wasm backend (SIMD, 1 thread)',
    batchSize: wasmBatch,
    threads: 1,
    images: wasmImages,
    runs: wasmRuns,
    ...wasm,
  });

  if (options.cpu) {
    // The pure-JS backend is about 10 s an image: 1 image, no warm-up beyond model loading, one run.
    await tf.setBackend('cpu');
    engine = await TfjsFeatureEngine.create(paths);
    await waitForIdle();
    progress('tfjs cpu backend: 1 image (about 10 s)...');
    const otherLoad = watchOtherLoad();
    const started = process.hrtime.bigint();
    await forwardAll(engine, input, 1, 1);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await engine.dispose();
    await tf.setBackend('wasm');
    rows.push({
      what: 'tfjs backbone, cpu backend (pure JS)',
      batchSize: 1,
      threads: 1,
      images: 1,
      runs: 1,
      imagesPerSecond: 1 / seconds,
      samples: [1 / seconds],
      otherBusyCores: otherLoad(),
      note: '1 image, 1 run, no warm-up (too slow for more)',
    });
  }
  return rows;
}

/** How the int8 engine is built when it is missing (calibration on the saved split's training images). */
let int8Options: Int8BuildOptions = {};

async function benchOnnx(paths: WeightsPaths, input: Float32Array, count: number, options: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const threadCounts = [...new Set([1, os.cpus().length])];
  const precisions = options.int8 ? (['float32', 'int8'] as const) : (['float32'] as const);
  for (const [precision, threads] of precisions.flatMap((p) => threadCounts.map((t) => [p, t] as const))) {
    const engine = await OnnxFeatureEngine.create(paths, { threads, log: progress, precision, int8: int8Options });
    for (const batchSize of options.batchSizes) {
      // Whole batches only, so every batch size does the same kind of work.
      const images = Math.max(batchSize, Math.floor(count / batchSize) * batchSize);
      if (images > count) continue;
      const result = await measure(
        `${engine.name} ${threads} thread(s), batch ${batchSize}`,
        images,
        options.runs,
        () => forwardAll(engine, input, images, batchSize),
      );
      rows.push({
        what: `${engine.name} cpu, ${threads} thread${threads > 1 ? 's' : ''}`,
        batchSize,
        threads,
        images,
        runs: options.runs,
        ...result,
      });
    }
    await engine.dispose();
  }
  return rows;
}

/** Pooled features of every image: decode overlapped with inference, as the feature cache does it. */
async function endToEnd(
  paths: WeightsPaths,
  files: string[],
  batchSize: number,
  prefetch: number,
  precision: 'float32' | 'int8' = 'float32',
): Promise<Row> {
  const engine = await OnnxFeatureEngine.create(paths, { log: progress, precision, int8: int8Options });
  const features = new Float32Array(files.length * featureLength);
  let done = 0;
  let skipped = 0;
  let lastReport = Date.now();
  await waitForIdle();
  const otherLoad = watchOtherLoad();
  const started = process.hrtime.bigint();
  for await (const batch of preprocessedBatches(files, { batchSize, prefetch })) {
    skipped += batch.skipped.length;
    if (batch.count > 0) features.set(await engine.pooledFeatures(batch.input, batch.count), done * featureLength);
    done += batch.count;
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      progress(`end to end: ${done + skipped}/${files.length} images, ${(done / seconds).toFixed(1)} images/s`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await engine.dispose();
  return {
    what:
      `end to end: pooled features, ${engine.description}, ` +
      `${prefetch > 0 ? `decode overlapped (prefetch ${prefetch})` : 'decode not overlapped'}`,
    batchSize,
    threads: engine.threads,
    images: done,
    runs: 1,
    imagesPerSecond: done / seconds,
    samples: [done / seconds],
    seconds,
    peakRssMiB: peakRssMiB(),
    otherBusyCores: otherLoad(),
    note: `one run, session start excluded${skipped ? `, ${skipped} unreadable images skipped` : ''}`,
  };
}

/** Runs the end-to-end measurement in a fresh process: its peak RSS is then its own. */
function endToEndInChild(options: Options, precision: 'float32' | 'int8' = 'float32'): Promise<Row> {
  const argv = [
    '--e2e-child',
    '--precision',
    precision,
    '--batch-size',
    String(options.batchSize),
    '--prefetch',
    String(options.prefetch),
    '--data',
    options.dataDir,
    '--wait-idle',
    String(options.waitIdle),
  ];
  if (options.e2eLimit) argv.push('--e2e-limit', String(options.e2eLimit));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename, ...argv], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`end-to-end child exited with ${code}`));
      try {
        resolve(JSON.parse(output.trim().split('\n').pop()!) as Row);
      } catch {
        reject(new Error(`end-to-end child printed no result: ${output.slice(-500)}`));
      }
    });
  });
}

/**
 * Wall time of the whole notebook run (`npm start`), cold then warm cache, each in a fresh process
 * tree as a user would run it. images/s counts the data folder's images over the whole run.
 */
async function benchNpmStart(files: string[], options: Options): Promise<Row[]> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-npm-start-'));
  const cacheDir = path.join(scratch, 'cache');
  const rows: Row[] = [];
  try {
    for (const cache of ['cold', 'warm'] as const) {
      await waitForIdle();
      progress(`npm start with a ${cache} feature cache (${files.length} images)...`);
      const started = Date.now();
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, path.join(__dirname, 'run-notebooks.ts')], {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: {
            ...process.env,
            CXR_DATA_DIR: options.dataDir,
            CXR_CACHE_DIR: cacheDir,
            CXR_OUTPUTS_DIR: path.join(scratch, `outputs-${cache}`),
            CXR_SUBSET_PER_CLASS: '',
          },
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      const seconds = (Date.now() - started) / 1000;
      if (code !== 0) throw new Error(`npm start (${cache} cache) failed with exit code ${code}`);
      rows.push({
        what: `npm start, all 5 notebooks, ${cache} feature cache`,
        batchSize: options.batchSize,
        threads: os.cpus().length,
        images: files.length,
        runs: 1,
        imagesPerSecond: files.length / seconds,
        samples: [files.length / seconds],
        seconds,
        // The notebooks are child processes, so "other load" cannot be told apart from them here.
        note: `${seconds.toFixed(0)} s wall time, kernel start-ups included`,
        otherBusyCores: null,
      });
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return rows;
}

/**
 * Notebook 05's explanation checks on the saved model and split, with a cold cache for the altered
 * images (the pooled features of the unaltered ones are copied in, as after notebook 02).
 */
async function benchExplanations(config: Config): Promise<Row[]> {
  const paths = outputPaths(config);
  if (!fs.existsSync(paths.split) || !fs.existsSync(path.join(paths.model, 'classifier.json'))) {
    progress(`explanations: skipped (no saved model or split in ${paths.folder}; run the notebooks first)`);
    return [];
  }
  await waitForIdle();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-explain-'));
  try {
    const cacheDir = path.join(scratch, 'cache');
    fs.mkdirSync(cacheDir);
    for (const name of fs
      .readdirSync(config.cacheDir)
      .filter((file) => /^features-[0-9a-f]+-[a-z0-9-]+\.bin$/.test(file)))
      fs.copyFileSync(path.join(config.cacheDir, name), path.join(cacheDir, name));
    const benchConfig = { ...config, cacheDir, outputsDir: path.join(scratch, 'outputs') };
    fs.mkdirSync(benchConfig.outputsDir);
    const split = loadSplit(paths.split);
    const model = await openModel(paths.model, benchConfig, progress);
    const backbone = await openBackbone(benchConfig, progress);
    const stopWatching = watchOtherLoad();
    const started = Date.now();
    const { explanations } = await runExplanations(benchConfig, model, backbone, split, progress);
    const seconds = (Date.now() - started) / 1000;
    await backbone.engine.dispose();
    model.head.dispose();
    const steps = Object.entries(explanations.timings).map(([step, value]) => `${step} ${value.toFixed(0)} s`);
    const sample = Object.values(explanations.sample.perClass).reduce((sum, n) => sum + n, 0);
    return [
      {
        what: `explanation checks (notebook 05): ${sample} sampled, ${split.test.length} audited test images`,
        batchSize: resolveFeatureBatchSize(config.featureBatchSize, currentBackend()),
        threads: os.cpus().length,
        images: split.test.length,
        runs: 1,
        imagesPerSecond: split.test.length / seconds,
        samples: [split.test.length / seconds],
        seconds,
        note: `${seconds.toFixed(0)} s wall time (${steps.join(', ')}); ${explanations.backbonePasses} backbone passes for faithfulness`,
        otherBusyCores: stopWatching(),
      },
    ];
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function formatTable(rows: Row[]): string {
  const header = ['what', 'batch', 'threads', 'images', 'runs', 'images/s', 'peak RSS', 'other load', 'note'];
  const lines = rows.map((row) =>
    [
      row.what,
      row.batchSize ?? '-',
      row.threads ?? '-',
      row.images,
      row.runs,
      row.imagesPerSecond.toFixed(row.imagesPerSecond < 1 ? 3 : 1),
      row.peakRssMiB ? `${row.peakRssMiB.toFixed(0)} MiB` : '',
      row.otherBusyCores === null ? '?' : `${row.otherBusyCores.toFixed(2)} cores`,
      row.note ?? '',
    ].map(String),
  );
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
  const format = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  return [format(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(format)].join(
    '\n',
  );
}

async function main(): Promise<void> {
  const config = loadConfig();
  const options = parseArguments(process.argv.slice(2), config);
  waitIdleSeconds = options.waitIdle;
  const paths = await ensureWeights(config.weightsDir, progress);
  int8Options = int8BuildOptions(config);
  let files = listImages(options.dataDir);
  if (options.e2eLimit) files = files.slice(0, options.e2eLimit);

  if (options.e2eChild) {
    const row = await endToEnd(paths, files, options.batchSize, options.prefetch, options.precision);
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }

  const loadBefore = os.loadavg();
  progress(
    `${files.length} images in ${options.dataDir}; ${os.cpus().length} cores (${os.cpus()[0]?.model}); load average ` +
      `${loadBefore.map((load) => load.toFixed(2)).join(' ')}`,
  );
  if (loadBefore[0] > 0.5) progress('warning: the machine is busy with other work; figures will be low and noisy');
  const sample = files.slice(0, Math.min(options.images, files.length));
  if (sample.length === 0) throw new Error(`${options.dataDir}: no images found`);

  const rows: Row[] = [];
  rows.push(await benchDecode(sample, options));
  const input = await decodeAll(sample);
  if (options.tfjs) rows.push(...(await benchTfjs(paths, input, sample.length, options)));
  rows.push(...(await benchOnnx(paths, input, sample.length, options)));
  if (options.finetune) {
    await initBackend(config.backend, progress);
    rows.push(
      ...(await benchFinetune(paths, Math.min(options.runs, 3), measure)).map((row) => ({ ...row, threads: 1 })),
    );
  }
  // float32 and int8 back to back, so the ratio compares runs under the same load.
  const endToEndRows: Partial<Record<'float32' | 'int8', Row>> = {};
  if (options.e2e) rows.push((endToEndRows.float32 = await endToEndInChild(options, 'float32')));
  if (options.e2e && options.int8) rows.push((endToEndRows.int8 = await endToEndInChild(options, 'int8')));
  if (options.npmStart) rows.push(...(await benchNpmStart(files, options)));
  if (options.explain) rows.push(...(await benchExplanations(config)));

  const fastest = rows
    .filter((row) => row.threads === os.cpus().length && row.what.startsWith('onnxruntime cpu'))
    .sort((a, b) => b.imagesPerSecond - a.imagesPerSecond)[0];
  const loadAfter = os.loadavg();
  const int8Speedup =
    endToEndRows.float32 && endToEndRows.int8
      ? endToEndRows.int8.imagesPerSecond / endToEndRows.float32.imagesPerSecond
      : null;
  const table = formatTable(rows);
  console.log(`\n${table}\n`);
  if (fastest)
    console.log(
      `Fastest ONNX Runtime batch size at ${fastest.threads} threads: ${fastest.batchSize} ` +
        `(${fastest.imagesPerSecond.toFixed(1)} images/s).`,
    );
  if (int8Speedup !== null)
    console.log(
      `End to end, int8 against float32 in this run: ${endToEndRows.int8!.imagesPerSecond.toFixed(1)} / ${endToEndRows.float32!.imagesPerSecond.toFixed(1)} images/s = ${int8Speedup.toFixed(2)}x.`,
    );
  console.log(
    `Load average before ${loadBefore[0].toFixed(2)}, after ${loadAfter[0].toFixed(2)} (1 min). "other load": cores ` +
      `other processes kept busy during the timed runs; figures are only clean where it is near 0.`,
  );

  const report = {
    date: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGiB: os.totalmem() / 2 ** 30,
      node: process.version,
    },
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    options: { ...options, e2eChild: undefined },
    fastestOnnxBatchSize: fastest?.batchSize ?? null,
    int8EndToEndSpeedup: int8Speedup,
    rows,
  };
  const reportPath = path.join(outputPaths(config).bench, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
  await writeJsonAtomic(reportPath, report);
  console.log(`Written to ${reportPath}`);
}

// Ctrl-C: the feature extraction stops itself with one line (core/interrupt); anywhere else, this line.
process.on('SIGINT', () => {
  console.error('bench: interrupted; no report written');
  process.exit(130);
});
main().catch((error) => {
  console.error(`bench: ${describeError(error)}`);
  process.exit(error instanceof InterruptedError ? 130 : 1);
});
