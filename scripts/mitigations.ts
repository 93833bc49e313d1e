/**
 * `npm run mitigations -- [--mitigations none,crop-border,...] [--seeds 42,43,44]`
 *
 * Every shortcut mitigation (config.preprocessing.mitigation) measured: its own features of every
 * image (cached), the config's recipe over the split seeds, and on the first split the shortcut
 * audit (border-only and box-only accuracy/AUC, CAM energy inside the central box) on the
 * validation and the test images. outputs/mitigations.json is rewritten after every run; a re-run
 * resumes. The table is printed on stdout: choose on the validation columns.
 */
import * as fs from 'fs';
import { currentBackend, initBackend } from '../lib/core/backend';
import { outputPaths } from '../lib/core/paths';
import { MitigationName, mitigationNames } from '../lib/core/preprocessing';
import { mitigationTable, runMitigations, summarizeMitigations } from '../lib/pipeline/mitigations';
import { prepareSplit } from '../lib/pipeline/split';
import { createProgress } from '../lib/view/progress';
import { CommandSpec, configFromArgs, displayPath, main, note, printResult, stringFlag, UsageError } from './cli';

const spec: CommandSpec = {
  name: 'mitigations',
  summary:
    'Each shortcut mitigation: features, the recipe over several split seeds, the shortcut audit; writes outputs/mitigations.json (resumable).',
  positionals: { label: '', min: 0, max: 0 },
  flags: [
    {
      name: 'mitigations',
      value: mitigationNames.join(','),
      description: 'which mitigations (default: all, "none" being the article\'s preprocessing)',
    },
    { name: 'seeds', value: '42,43,44', description: 'split seeds (the first one is also audited)' },
    {
      name: 'no-test-audit',
      description: 'audit the validation images only (the test audit is reported, never used to choose)',
    },
  ],
};

function parseList<T extends string>(text: string | undefined, fallback: readonly T[], allowed?: readonly T[]): T[] {
  if (text === undefined) return [...fallback];
  const items = text.split(',').map((part) => part.trim()) as T[];
  if (allowed) {
    const unknown = items.filter((item) => !allowed.includes(item));
    if (unknown.length)
      throw new UsageError(`--mitigations: unknown ${unknown.join(', ')}; choose from ${allowed.join(', ')}`, spec);
  }
  return items;
}

main(spec, async (args) => {
  const config = configFromArgs(args);
  const mitigations = parseList<MitigationName>(stringFlag(args, 'mitigations'), mitigationNames, mitigationNames);
  const seeds = parseList(stringFlag(args, 'seeds'), ['42', '43', '44']).map(Number);
  if (seeds.length === 0 || !seeds.every(Number.isInteger))
    throw new UsageError('--seeds must be whole numbers separated by commas', spec);
  await initBackend(config.backend);
  note(`tfjs backend: ${currentBackend()}`);
  if (!fs.existsSync(outputPaths(config).leakage)) {
    note(`no leakage scan in ${displayPath(config.outputsDir)}: running notebook 01's step`);
    await prepareSplit(config, note);
  }
  const started = Date.now();
  const total = mitigations.length * seeds.length;
  const progress = createProgress('mitigations', total);
  let done = 0;
  const results = await runMitigations(config, mitigations, seeds, note, {
    auditTest: args.flags['no-test-audit'] !== true,
    onRun: (_file, run, reused) => {
      done++;
      progress.update(done, `${run.mitigation}, split ${run.splitSeed}: val acc ${run.validation.accuracy.toFixed(3)}`);
      if (!reused) note(`${run.mitigation}, split seed ${run.splitSeed}: ${run.seconds.toFixed(0)} s`);
    },
    onAudit: (_file, audit, reused) => {
      if (!reused) note(`${audit.mitigation}: audit in ${audit.seconds.toFixed(0)} s`);
    },
  });
  progress.finish();
  note(
    `mitigations: ${((Date.now() - started) / 1000).toFixed(0)} s; saved ${displayPath(outputPaths(config).mitigations)}`,
  );
  const table = mitigationTable(summarizeMitigations(results));
  printResult(table.header.join(' | '));
  for (const row of table.rows) printResult(row.join(' | '));
  printResult('(mean ± sd over split seeds; audit on the first split; choose on the validation columns)');
  return 0;
});
