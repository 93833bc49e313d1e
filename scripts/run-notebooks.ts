/**
 * Executes the notebooks in order with Jupyter's nbconvert on the tslab kernel, as a user would in
 * JupyterLab: executed copies (with their charts and pictures) go to <outputs>/notebooks/. A failing
 * cell stops the run with a non-zero exit code; outputs already written by earlier notebooks stay.
 *
 *   npm start                                   all notebooks, full data
 *   CXR_SUBSET_PER_CLASS=24 npm start           a quick run on a subset
 *   tsx scripts/run-notebooks.ts 03 04          only some notebooks (by number prefix)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig, outputPaths, projectRoot } from '../lib/core/config';
import { describeError } from '../lib/core/errors';
import { readRunMetrics, RunMetrics } from '../lib/evaluate/runMetrics';

const notebooksDir = path.join(projectRoot, 'notebooks');
const config = loadConfig();
const paths = outputPaths(config);
const only = process.argv.slice(2);
const notebooks = fs
  .readdirSync(notebooksDir)
  .filter((name) => /^\d\d[a-z]?-.*\.ipynb$/.test(name))
  .filter((name) => only.length === 0 || only.some((prefix) => name.startsWith(prefix)))
  .sort();
const timeoutSeconds = Number(process.env.NOTEBOOK_TIMEOUT_SECONDS ?? 3600);

fs.mkdirSync(paths.notebooks, { recursive: true });
console.log(
  `running ${notebooks.length} notebooks on ${config.dataDir}${config.subsetPerClass ? ` (${config.subsetPerClass} images per class)` : ''}; outputs in ${paths.folder}`,
);
const started = Date.now();
let passed = 0;
let failed = 0;
let metricsMissing = false;
for (const notebook of notebooks) {
  const notebookStarted = Date.now();
  process.stdout.write(`  ${notebook} ... `);
  const result = spawnSync(
    'jupyter',
    [
      'nbconvert',
      '--to',
      'notebook',
      '--execute',
      path.join(notebooksDir, notebook),
      '--output-dir',
      paths.notebooks,
      '--ExecutePreprocessor.kernel_name=tslab',
      `--ExecutePreprocessor.timeout=${timeoutSeconds}`,
    ],
    {
      cwd: notebooksDir,
      encoding: 'utf8',
      // Absolute paths: the kernel runs in notebooks/, where relative ones would mean something else.
      env: {
        ...process.env,
        CXR_DATA_DIR: config.dataDir,
        CXR_OUTPUTS_DIR: config.outputsDir,
        CXR_CACHE_DIR: config.cacheDir,
        PYDEVD_DISABLE_FILE_VALIDATION: '1',
      },
    },
  );
  const seconds = ((Date.now() - notebookStarted) / 1000).toFixed(1);
  if (result.status === 0) {
    passed++;
    console.log(`ok (${seconds} s)`);
    continue;
  }
  failed++;
  console.log(`FAILED (${seconds} s)`);
  // nbconvert prints the failing cell and its error; show that part, not Python's own traceback.
  const output = `${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`;
  const cellError = output.indexOf('An error occurred while executing the following cell');
  console.error(cellError >= 0 ? output.slice(cellError) : output.slice(-4000));
  break;
}
console.log(`notebooks took ${((Date.now() - started) / 1000).toFixed(1)} s; executed copies in ${paths.notebooks}`);
if (!failed && notebooks.some((name) => name.startsWith('04'))) {
  // What the run promises: metrics.json with backend, split counts, test loss and accuracy.
  let metrics: RunMetrics | undefined;
  try {
    metrics = readRunMetrics(paths.metrics);
  } catch (error) {
    console.error(describeError(error));
  }
  const split = metrics?.counts.split;
  const numbers = [split?.train, split?.validation, split?.test, metrics?.test.loss, metrics?.test.accuracy];
  if (!metrics?.backend || !numbers.every((value) => typeof value === 'number' && Number.isFinite(value))) {
    metricsMissing = true;
    console.error(
      `${paths.metrics} is missing or lacks backend, counts.split.{train,validation,test} or test.{loss,accuracy}`,
    );
  } else {
    const { loss, accuracy } = metrics.test;
    console.log(
      `metrics: backend ${metrics.backend}, engine ${metrics.engine}, data ${JSON.stringify(split)}, test loss ${loss.toFixed(4)}, test accuracy ${accuracy.toFixed(4)}`,
    );
  }
}
console.log(`notebooks: ${passed} passed, ${failed} failed`);
process.exit(failed || metricsMissing ? 1 : 0);
