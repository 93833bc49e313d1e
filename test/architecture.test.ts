import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';

/**
 * The folder tree is a picture of the pipeline: a folder may import only the folders listed for
 * it, and no file may reach itself through its imports.
 */
const allowedImports: Record<string, string[]> = {
  core: [],
  data: ['core'],
  backbone: ['core', 'data'],
  head: ['core'],
  evaluate: ['core'],
  explain: ['core'],
  view: ['core', 'head', 'evaluate'],
  finetune: ['core', 'data', 'backbone', 'head'],
  pipeline: ['core', 'data', 'backbone', 'head', 'evaluate', 'explain', 'view', 'finetune'],
};

const libRoot = path.join(projectRoot, 'lib');

function libFiles(): string[] {
  return fs
    .readdirSync(libRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(libRoot, file));
}

function resolveImport(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
}

function importsOf(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/(?:from|import|require\()\s*'(\.{1,2}\/[^']+)'/g)].map((match) => match[1]);
  return specifiers
    .map((specifier) => resolveImport(file, specifier))
    .filter((found): found is string => found !== undefined);
}

const folderOf = (file: string) => path.relative(libRoot, file).split(path.sep)[0].replace(/\.ts$/, '');

describe('lib/ architecture', () => {
  const files = libFiles();
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it('has one folder per pipeline step, each with its public face (lib/<folder>.ts) beside it', () => {
    const top = fs.readdirSync(libRoot);
    const folders = Object.keys(allowedImports).sort();
    assert.deepEqual(top.filter((name) => !name.endsWith('.ts')).sort(), folders);
    // A face only re-exports its folder: tslab resolves './lib/core' to lib/core.ts, not to an index.ts.
    assert.deepEqual(
      top.filter((name) => name.endsWith('.ts')).sort(),
      folders.map((folder) => `${folder}.ts`),
    );
    for (const folder of folders) {
      const lines = fs
        .readFileSync(path.join(libRoot, `${folder}.ts`), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('export') || line.startsWith('import'));
      assert.ok(
        lines.length > 0 && lines.every((line) => line.startsWith(`export * from './${folder}/`)),
        `lib/${folder}.ts re-exports lib/${folder}/ only`,
      );
    }
  });

  it('imports across folders only along the pipeline', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        const from = folderOf(file);
        const to = folderOf(target);
        if (from !== to && !allowedImports[from]?.includes(to))
          wrong.push(`${path.relative(libRoot, file)} -> ${path.relative(libRoot, target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push(
          [...trail.slice(trail.indexOf(file)), file].map((item) => path.relative(libRoot, item)).join(' -> '),
        );
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('keeps every source file under 400 lines', () => {
    const long = files
      .map((file) => [path.relative(libRoot, file), fs.readFileSync(file, 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 400);
    assert.deepEqual(long, []);
  });
});
