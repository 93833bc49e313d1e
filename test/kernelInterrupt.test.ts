/**
 * Kernel > Interrupt on a real tslab kernel, driven as Jupyter drives it (jupyter_client from the
 * Python that has Jupyter, test/kernel-interrupt.py): training and feature extraction stop within a
 * batch, the cell ends with one line that says "interrupted", nothing more arrives from it, and the
 * next cell runs alone.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';
import { cxrDir, temporaryFolder } from './helpers';
import { jupyterEnvironment } from '../scripts/kernel';

interface Output {
  type: string;
  name?: string;
  text: string;
  afterInterrupt: boolean;
}
interface StepResult {
  status: string;
  outputs: Output[];
  late: { type: string; text: string }[];
  secondsToStop: number | null;
}

const python = process.env.JUPYTER_PYTHON ?? '/usr/bin/python3';
const kernel = process.env.CXR_KERNEL_NAME ?? 'tslab';

const setupCell = `
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadConfig } from './lib/core';
import { extractFeatures } from './lib/backbone';
import { openBackbone, trainModel } from './lib/pipeline';
import { createProgress } from './lib/view';

// Many epochs, no early stopping: training runs until it is interrupted.
const config = loadConfig({
  epochs: 400,
  ensembleSize: 2,
  batchSize: 8,
  earlyStopping: { patience: 1000 },
});
const xrays = (perClass: number) =>
  ['COVID', 'NORMAL'].flatMap((name, label) =>
    fs
      .readdirSync(path.join(config.dataDir, name))
      .sort()
      .slice(0, perClass)
      .map((file) => ({ file: path.join(config.dataDir, name, file), label: label })),
  );
const small = xrays(24);
const backbone = await openBackbone(config, () => undefined);
const extracted = await extractFeatures(
  small.map((xray) => xray.file),
  { engine: backbone.engine, cache: backbone.cache, batchSize: backbone.batchSize },
);
await backbone.engine.dispose();
// The same images for training and validation: this is about stopping, not about accuracy.
const set = { features: extracted.features, labels: extracted.kept.map((i) => small[i].label) };
console.log(\`features of \${set.labels.length} X-rays ready\`);
// Declared here: tslab forgets the declarations of a cell that fails (an interrupted one too).
const coldCache = fs.mkdtempSync(path.join(os.tmpdir(), 'interrupt-cache-'));
const many = xrays(150).map((xray) => xray.file);
`;

const trainingCell = `
const trained = await trainModel(config, { train: set, validation: set });
console.log('training finished');
`;

const extractionCell = `
const cold = await openBackbone(loadConfig({ cacheDir: coldCache }), () => undefined);
console.log('extracting');
try {
  await extractFeatures(many, {
    engine: cold.engine,
    cache: cold.cache,
    batchSize: 8,
    progress: createProgress,
  });
  console.log('extraction finished');
} finally {
  await cold.engine.dispose();
}
`;

const reuseCell = `
const reopened = await openBackbone(loadConfig({ cacheDir: coldCache }), () => undefined);
const firstBatch = await extractFeatures(many.slice(0, 8), {
  engine: reopened.engine,
  cache: reopened.cache,
  batchSize: 8,
});
await reopened.engine.dispose();
fs.rmSync(coldCache, { recursive: true, force: true });
console.log(\`reused \${firstBatch.reused}, computed \${firstBatch.computed}\`);
`;

const quiet = 6;
const steps = [
  { code: setupCell, timeout: 90 },
  { code: trainingCell, interruptAfter: 'epoch 2:', quiet: quiet, timeout: 60 },
  { code: "console.log('the next cell runs alone');", timeout: 30 },
  { code: extractionCell, interruptAfter: 'extracting', interruptDelay: 4, quiet: quiet, timeout: 60 },
  { code: reuseCell, timeout: 60 },
];

function streamText(result: StepResult): string {
  return result.outputs
    .filter((output) => output.type === 'stream')
    .map((output) => output.text)
    .join('');
}

/** The cell's last printed line says "interrupted"; nothing of tslab's or a stack trace anywhere. */
function assertOneInterruptLine(result: StepResult, pattern: RegExp): void {
  const text = streamText(result);
  assert.equal(result.status, 'error', 'the interrupted cell ends as failed, so Run All stops there');
  assert.doesNotMatch(text, /Interrupted asynchronously|\n\s+at |Error:/, text);
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1];
  assert.match(last, pattern);
  assert.equal(lines.filter((line) => /interrupted/i.test(line)).length, 1, text);
  const afterLine = result.outputs.slice(result.outputs.findIndex((output) => output.text.includes(last)) + 1);
  assert.deepEqual(afterLine, [], 'nothing after the one line');
  assert.deepEqual(result.late, [], 'no output after the cell ended');
}

describe('Kernel > Interrupt on a real tslab kernel (jupyter_client)', function () {
  this.timeout(180_000);
  let results: StepResult[];

  before(function () {
    if (spawnSync(python, ['-c', 'import jupyter_client'], { encoding: 'utf8' }).status !== 0) {
      throw new Error(`${python} cannot import jupyter_client: run npm run setup (apt: python3-jupyter-client)`);
    }
    const folder = temporaryFolder('kernel-interrupt');
    const stepsFile = path.join(folder, 'steps.json');
    const resultFile = path.join(folder, 'result.json');
    fs.writeFileSync(stepsFile, JSON.stringify(steps));
    const run = spawnSync(
      python,
      [
        path.join(projectRoot, 'test', 'kernel-interrupt.py'),
        stepsFile,
        '--kernel',
        kernel,
        '--cwd',
        path.join(projectRoot, 'notebooks'),
        '--result',
        resultFile,
      ],
      {
        encoding: 'utf8',
        timeout: 170_000,
        env: {
          ...jupyterEnvironment(),
          CXR_DATA_DIR: cxrDir,
          CXR_OUTPUTS_DIR: path.join(folder, 'outputs'),
          PYDEVD_DISABLE_FILE_VALIDATION: '1',
        },
      },
    );
    assert.equal(run.status, 0, `kernel-interrupt.py failed:\n${run.stderr}\n${run.error ?? ''}`);
    results = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as StepResult[];
    fs.rmSync(folder, { recursive: true, force: true });
    const [setup] = results;
    assert.equal(setup.status, 'ok', JSON.stringify(setup.outputs));
    assert.match(streamText(setup), /features of 48 X-rays ready/);
  });

  it('training: stops within a batch, one line, nothing after, and the model is not replaced', () => {
    const training = results[1];
    assertOneInterruptLine(
      training,
      /^training interrupted after epoch \d+ of 400 \(head 1 of 2\); the saved model is unchanged$/,
    );
    assert.doesNotMatch(streamText(training), /training finished/);
    assert.ok(training.secondsToStop! < 10, `the cell ended ${training.secondsToStop} s after the interrupt`);
  });

  it('the next cell then runs alone: its own line and nothing else', () => {
    const next = results[2];
    assert.equal(next.status, 'ok');
    assert.deepEqual(
      next.outputs.map((output) => output.text),
      ['the next cell runs alone\n'],
    );
    assert.deepEqual(next.late, []);
  });

  it('feature extraction: stops within a batch; the batches done are in the cache for the next run', () => {
    const extraction = results[3];
    assertOneInterruptLine(
      extraction,
      /^feature extraction interrupted after \d+ of 300 images; their features are kept in \S+$/,
    );
    const done = Number(/after (\d+) of/.exec(streamText(extraction))![1]);
    assert.ok(done > 0 && done < 300 && done % 8 === 0, `stopped after ${done} images`);
    const reuse = results[4];
    assert.equal(reuse.status, 'ok', JSON.stringify(reuse.outputs));
    assert.match(streamText(reuse), /^reused 8, computed 0\n$/);
    // The first batch also loads the ONNX model; a later one takes well under a second.
    assert.ok(extraction.secondsToStop! < 30, `the cell ended ${extraction.secondsToStop} s after the interrupt`);
  });
});
