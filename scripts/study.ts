/**
 * `npm run study -- [--grid file.json] [--seeds 42,43,44] [--interactive]`
 *
 * The hyperparameter study of notebook 03b from the terminal: every setting of the grid over
 * several init seeds on the cached features of the saved split (made first if there is none),
 * ranked by mean validation loss, with a progress bar on stderr. outputs/study.json is rewritten
 * after each trial; a re-run resumes. The ranking is printed on stdout, the figure saved to
 * outputs/figures/study.png.
 *
 * --interactive opens the saved study as interactive charts in the browser (nodeplotlib) instead
 * of training; never in CI (CI=true), and without a display it only prints the address.
 */
import * as fs from 'fs';

import { currentBackend, initBackend } from '../lib/core/backend';
import { Config } from '../lib/core/config';
import { outputPaths } from '../lib/core/paths';
import { UserFacingError } from '../lib/core/errors';
import { positiveClassIndex } from '../lib/core/classes';
import { openBackbone, splitFeatures } from '../lib/pipeline/backbone';
import { prepareSplit } from '../lib/pipeline/split';
import { defaultStudyGrid, rankStudy, runStudy, StudyFile, StudyGrid } from '../lib/pipeline/study';
import { saveStudyFigure } from '../lib/pipeline/studyView';
import { createProgress } from '../lib/view/progress';
import { CommandSpec, configFromArgs, displayPath, main, note, printResult, stringFlag, UsageError } from './cli';

const spec: CommandSpec = {
  name: 'study',
  summary:
    'Hyperparameter study of the head on the cached features: a grid over several seeds, ranked by validation loss; writes outputs/study.json (resumable).',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    { name: 'grid', value: 'file.json', description: 'the grid as JSON (default: the grid of notebook 03b)' },
    { name: 'seeds', value: '42,43,44', description: 'init seeds of every setting (overrides the grid)' },
    { name: 'interactive', description: 'open outputs/study.json as interactive charts in the browser (nodeplotlib)' },
    {
      name: 'port',
      value: 'n',
      description: 'with --interactive: the port of the chart server (default: any free one)',
    },
  ],
};

function readGrid(file: string | undefined): StudyGrid {
  if (!file) return defaultStudyGrid;
  try {
    return { ...defaultStudyGrid, ...(JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StudyGrid>) };
  } catch (error) {
    throw new UserFacingError(`--grid ${file}: ${(error as Error).message}`);
  }
}

function parseSeeds(text: string): number[] {
  const seeds = text.split(',').map((part) => Number(part.trim()));
  if (seeds.length === 0 || !seeds.every(Number.isInteger))
    throw new UsageError(`--seeds must be whole numbers separated by commas, not "${text}"`, spec);
  return seeds;
}

async function train(config: Config, grid: StudyGrid): Promise<number> {
  await initBackend(config.backend);
  note(`tfjs backend: ${currentBackend()}`);
  if (!fs.existsSync(outputPaths(config).split)) {
    note(`no saved split in ${displayPath(config.outputsDir)}: making it (notebook 01's step)`);
    await prepareSplit(config, note);
  }
  const backbone = await openBackbone(config, note);
  const features = await splitFeatures(config, backbone);
  await backbone.engine.dispose();
  const positiveClass = positiveClassIndex(features.classNames);
  let progress: ReturnType<typeof createProgress> | undefined;
  const started = Date.now();
  let trained = 0;
  const study = await runStudy(config, features.sets, grid, {
    positiveClass,
    onTrial: (_study, done, total, trial, reused) => {
      progress ??= createProgress('study', total);
      if (!reused) trained++;
      progress.update(done, `seed ${trial.seed}: val loss ${trial.validation.loss.toFixed(4)}`);
    },
  });
  progress?.finish(`${trained} trained, ${study.trials.length - trained} reused`);
  const seconds = (Date.now() - started) / 1000;
  note(`study: ${trained} trials trained in ${seconds.toFixed(0)} s; saved ${displayPath(outputPaths(config).study)}`);
  note(`figure: ${displayPath(saveStudyFigure(config, study))}`);
  printResult('rank  val loss (mean ± sd)  val acc  | test loss  test acc  test AUC  | setting (seeds)');
  rankStudy(study).forEach((row, index) => {
    const line = [
      String(index + 1).padStart(4),
      `${row.validationLoss.mean.toFixed(4)} ± ${row.validationLoss.sd.toFixed(4)}`.padEnd(21),
      row.validationAccuracy.mean.toFixed(3).padEnd(8),
      '|',
      row.test.loss.toFixed(4).padEnd(10),
      row.test.accuracy.toFixed(3).padEnd(9),
      row.test.auc.toFixed(3).padEnd(9),
      '|',
      `${row.label} (${row.seeds.join(',')})`,
    ];
    printResult(line.join(' '));
  });
  printResult('(ranked by validation loss; the test columns are reported, never used to choose)');
  return 0;
}

/** The saved study in the browser: validation loss and accuracy against the learning rate, per optimizer. */
async function interactive(config: Config, port: string | undefined): Promise<number> {
  if (process.env.CI === 'true' || process.env.CI === '1')
    throw new UserFacingError('--interactive opens a browser; it does not run in CI (CI is set)');
  const file = outputPaths(config).study;
  if (!fs.existsSync(file)) throw new UserFacingError(`${displayPath(file)} not found; run npm run study first`);
  const study = JSON.parse(fs.readFileSync(file, 'utf8')) as StudyFile;
  const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
  // nodeplotlib opens the browser itself unless NODEPLOTLIB_PORT is set: set it where there is no display.
  if (port !== undefined) process.env.NODEPLOTLIB_PORT = port;
  else if (headless) process.env.NODEPLOTLIB_PORT = '0';
  if (headless) note('no display: open the address below in a browser (e.g. through an SSH tunnel)');
  const { plot } = await import('nodeplotlib');
  const rows = rankStudy(study);
  for (const metric of ['loss', 'accuracy'] as const) {
    const groups = new Map<string, typeof rows>();
    for (const row of rows) {
      const name = `${row.settings.optimizer}${row.ensembleSize > 1 ? `, ensemble of ${row.ensembleSize}` : ''}`;
      groups.set(name, [...(groups.get(name) ?? []), row]);
    }
    const data = [...groups.entries()].map(([name, group]) => {
      const value = (row: (typeof rows)[number]) => (metric === 'loss' ? row.validationLoss : row.validationAccuracy);
      return {
        name,
        type: 'scatter' as const,
        mode: 'markers' as const,
        x: group.map((row) => row.settings.learningRate),
        y: group.map((row) => value(row).mean),
        text: group.map(
          (row) => `${row.label}<br>seeds ${row.seeds.join(',')}<br>test acc ${row.test.accuracy.toFixed(3)}`,
        ),
        error_y: { type: 'data' as const, array: group.map((row) => value(row).sd), visible: true },
      };
    });
    plot(data, {
      title: `Study: validation ${metric} (mean ± sd over seeds) against the learning rate`,
      xaxis: { title: 'learning rate', type: 'log' },
      yaxis: { title: `validation ${metric}` },
    });
  }
  note('charts served by nodeplotlib; press Ctrl-C to stop');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  return 0;
}

main(spec, async (args) => {
  const config = configFromArgs(args);
  if (args.flags.interactive) return interactive(config, stringFlag(args, 'port'));
  const grid = readGrid(stringFlag(args, 'grid'));
  const seeds = stringFlag(args, 'seeds');
  return train(config, seeds ? { ...grid, initSeeds: parseSeeds(seeds) } : grid);
});
