/**
 * Executes the notebooks in order on the tslab kernel (nbclient, through scripts/execute-notebook.py),
 * as a user would in Jupyter: executed copies (with their charts, pictures and execution counts) go
 * to <outputs>/notebooks/, a failing notebook's copy too, with the error in place.
 *
 * Before anything long it checks the data folder (the data preflight). A failing cell stops the run
 * with a non-zero exit code: the runner shows the notebook, the cell and the error as the kernel
 * printed it; later notebooks are skipped; outputs already written by earlier notebooks stay.
 *
 *   npm start                                   all notebooks, full data
 *   CXR_SUBSET_PER_CLASS=24 npm start           a quick run on a subset
 *   tsx scripts/run-notebooks.ts 03 04          only some notebooks (by number prefix)
 *   CXR_NOTEBOOKS_DIR=folder npm start          notebooks from another folder (the tests use it)
 *   CXR_FINETUNE=0 npm start                    without notebook 06 (fine-tuning, the longest step;
 *                                               on by default, as it fits the time budget of issue #9)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { articleDefaults, loadConfig, projectRoot } from '../lib/core/config';
import { outputPaths } from '../lib/core/paths';
import { writeFileAtomicSync } from '../lib/core/atomic';
import { describeError } from '../lib/core/errors';
import { checkDataFolder, dataFolderHelp } from '../lib/data/preflight';
import { readRunMetrics, RunMetrics } from '../lib/evaluate/runMetrics';
import { NotebookPage, withNotebookPageLinks } from '../lib/view/notebookPages';
import { jupyterEnvironment, kernelName } from './kernel';
import { describeFailure, describeInterruption, NotebookResult } from './notebook-failure';

const notebooksDir = path.resolve(process.env.CXR_NOTEBOOKS_DIR ?? path.join(projectRoot, 'notebooks'));
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  console.error(describeError(error));
  process.exit(1);
}
const paths = outputPaths(config);
const only = process.argv.slice(2);
const notebooks = fs
  .readdirSync(notebooksDir)
  .filter((name) => /^\d\d[a-z]?-.*\.ipynb$/.test(name))
  .filter((name) => only.length === 0 || only.some((prefix) => name.startsWith(prefix)))
  .filter((name) => only.length > 0 || !name.startsWith('06-') || config.finetune.enabled)
  .sort();
if (only.length === 0 && !config.finetune.enabled)
  console.log('notebook 06-finetune is off (CXR_FINETUNE=0 or finetune.enabled false)');
const timeoutSeconds = Number(process.env.NOTEBOOK_TIMEOUT_SECONDS ?? 3600);
// The Python that has Jupyter (setup registers the kernel with it); the default python3 may lack nbclient.
const python = process.env.JUPYTER_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

// The data preflight: a missing or unusable data folder is the first thing a new user meets.
const dataCheck = checkDataFolder(config.dataDir);
if (!dataCheck.ok) {
  console.error(dataFolderHelp(dataCheck, articleDefaults.dataDir));
  console.error(`notebooks: none run (${notebooks.length} skipped)`);
  process.exit(1);
}

fs.mkdirSync(paths.notebooks, { recursive: true });
const subset = config.subsetPerClass ? `, ${config.subsetPerClass} images per class` : '';
console.log(`running ${notebooks.length} notebooks on ${config.dataDir} (${dataCheck.summary}${subset})`);
console.log(`outputs in ${paths.folder}`);
const started = Date.now();
let passed = 0;
let failed = 0;
let metricsMissing = false;
const resultFile = path.join(paths.notebooks, '.last-result.json');
const pages: NotebookPage[] = [];

/**
 * A self-contained HTML page of an executed notebook: images embedded, and a template without the
 * requirejs and MathJax script tags that Debian's nbconvert points at file:// URLs.
 */
function writeHtmlPage(executedCopy: string): string | undefined {
  const exported = spawnSync(
    'jupyter',
    [
      'nbconvert',
      '--to',
      'html',
      '--embed-images',
      `--TemplateExporter.extra_template_basedirs=${path.join(projectRoot, 'scripts', 'nbconvert')}`,
      '--template',
      'standalone',
      '--output-dir',
      paths.notebooks,
      executedCopy,
    ],
    { encoding: 'utf8', env: jupyterEnvironment() },
  );
  const page = executedCopy.replace(/\.ipynb$/, '.html');
  if (exported.status === 0 && fs.existsSync(page)) return page;
  console.error(
    `  (no HTML page for ${path.basename(executedCopy)}: ${(exported.stderr ?? '').trim().split('\n').pop()})`,
  );
  return undefined;
}
// Ctrl-C reaches the notebook executor too (same process group): it interrupts the kernel, as
// Kernel > Interrupt does, and reports the cell. This listener only keeps Node from dying meanwhile
// (while spawnSync waits, the listener itself runs only afterwards).
process.on('SIGINT', () => undefined);
let interrupted = false;
for (const notebook of notebooks) {
  const notebookStarted = Date.now();
  process.stdout.write(`  ${notebook} ... `);
  const executedCopy = path.join(paths.notebooks, notebook);
  fs.rmSync(resultFile, { force: true });
  const run = spawnSync(
    python,
    [
      path.join(projectRoot, 'scripts', 'execute-notebook.py'),
      path.join(notebooksDir, notebook),
      executedCopy,
      resultFile,
      '--kernel',
      kernelName,
      '--timeout',
      String(timeoutSeconds),
      '--cwd',
      notebooksDir,
    ],
    {
      cwd: notebooksDir,
      encoding: 'utf8',
      // Absolute paths: the kernel runs in notebooks/, where relative ones would mean something else.
      env: {
        ...jupyterEnvironment(),
        CXR_DATA_DIR: config.dataDir,
        CXR_OUTPUTS_DIR: config.outputsDir,
        CXR_CACHE_DIR: config.cacheDir,
        PYDEVD_DISABLE_FILE_VALIDATION: '1',
      },
    },
  );
  const seconds = ((Date.now() - notebookStarted) / 1000).toFixed(1);
  let result: NotebookResult;
  try {
    result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as NotebookResult;
  } catch {
    // The executor itself failed (no nbclient, no Python): its own output is all there is.
    const output = `${run.stderr ?? ''}${run.error ? `\n${run.error.message}` : ''}`.trim();
    result = {
      status: 'not run',
      message: `${python} scripts/execute-notebook.py failed (is Jupyter installed? npm run setup installs it)`,
      stderr: output.split('\n').slice(-15).join('\n'),
    };
  }
  fs.rmSync(resultFile, { force: true });
  const page = fs.existsSync(executedCopy) ? writeHtmlPage(executedCopy) : undefined;
  if (page) {
    pages.push({
      title: notebook.replace(/\.ipynb$/, ''),
      href: path.relative(paths.folder, page).split(path.sep).join('/'),
    });
  }
  if (result.status === 'ok' && run.status === 0) {
    passed++;
    console.log(`ok (${seconds} s)`);
    continue;
  }
  failed++;
  if (result.status === 'interrupted' || run.status === 130 || run.signal === 'SIGINT') {
    interrupted = true;
    console.log(`interrupted (${seconds} s)`);
    console.error(describeInterruption(notebook, result, fs.existsSync(executedCopy) ? executedCopy : undefined));
    break;
  }
  console.log(`FAILED (${seconds} s)`);
  if (result.status === 'not run' && /NoSuchKernel/.test(result.message ?? '')) {
    result.message = `${result.message}\nThe tslab kernel is not registered with Jupyter (.jupyter-data/ in this checkout): run npm run setup.`;
  }
  console.error(`\n${describeFailure(notebook, result, fs.existsSync(executedCopy) ? executedCopy : undefined)}\n`);
  break;
}
if (fs.existsSync(paths.report) && pages.length > 0) {
  // report.html (notebook 04) links the pages of this run's notebooks.
  writeFileAtomicSync(paths.report, withNotebookPageLinks(fs.readFileSync(paths.report, 'utf8'), pages));
}
const skipped = notebooks.slice(passed + failed);
if (skipped.length > 0)
  console.error(`skipped after the ${interrupted ? 'interrupt' : 'failure'}: ${skipped.join(', ')}`);
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
      `metrics: backend ${metrics.backend}, engine ${metrics.engine}, data ${JSON.stringify(split)}, test loss ` +
        `${loss.toFixed(4)}, test accuracy ${accuracy.toFixed(4)}`,
    );
  }
}
const stopped = interrupted ? `${failed} interrupted` : `${failed} failed`;
console.log(`notebooks: ${passed} passed, ${stopped}${skipped.length ? `, ${skipped.length} skipped` : ''}`);
process.exit(interrupted ? 130 : failed || metricsMissing ? 1 : 0);
