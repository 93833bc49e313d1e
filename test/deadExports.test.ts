import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';

/**
 * No dead exports: every name a lib/ module exports is used by another file, whether in lib/,
 * scripts/, test/ or the notebooks' code cells. A name only its own file uses should not be
 * exported; a name nobody uses should not exist. Word matching on comment-free source errs on
 * the side of "used" (a same-named word elsewhere hides a dead export), never of a false alarm.
 */
const libRoot = path.join(projectRoot, 'lib');

function tsFiles(folder: string): string[] {
  return fs
    .readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.split(path.sep).includes('node_modules'))
    .map((file) => path.join(folder, file));
}

/** The code without comments (strings stay: an import path or a key in quotes is still a use). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function notebookCode(): { file: string; code: string }[] {
  const folder = path.join(projectRoot, 'notebooks');
  return fs
    .readdirSync(folder)
    .filter((name) => name.endsWith('.ipynb'))
    .map((name) => {
      const notebook = JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8')) as {
        cells: { cell_type: string; source: string[] | string }[];
      };
      const code = notebook.cells
        .filter((cell) => cell.cell_type === 'code')
        .map((cell) => (Array.isArray(cell.source) ? cell.source.join('') : cell.source))
        .join('\n');
      return { file: path.join(folder, name), code: withoutComments(code) };
    });
}

const exportPattern =
  /^export (?:async )?(function\*?|const|let|class|abstract class|interface|type|enum) ([A-Za-z_$][\w$]*)/gm;

describe('lib/ exports', () => {
  it('are all used outside the file that exports them', () => {
    const faces = new Set(
      fs
        .readdirSync(libRoot)
        .filter((name) => name.endsWith('.ts'))
        .map((name) => path.join(libRoot, name)),
    );
    const modules = tsFiles(libRoot).filter((file) => !faces.has(file));
    const sources = [
      ...[...modules, ...tsFiles(path.join(projectRoot, 'scripts')), ...tsFiles(path.join(projectRoot, 'test'))].map(
        (file) => ({ file, code: withoutComments(fs.readFileSync(file, 'utf8')) }),
      ),
      ...notebookCode(),
    ];
    const dead: string[] = [];
    for (const module of modules) {
      const own = fs.readFileSync(module, 'utf8');
      const ownCode = withoutComments(own);
      for (const [, kind, name] of own.matchAll(exportPattern)) {
        const word = `(^|[^\\w$])${name.replace(/\$/g, '\\$')}(?=$|[^\\w$])`;
        const elsewhere = sources.some((source) => source.file !== module && new RegExp(word).test(source.code));
        // A type its own file uses describes an exported signature (an options object, a result):
        // callers may need to name it, so it stays exported.
        const inOwnSignatures =
          (kind === 'interface' || kind === 'type') && (ownCode.match(new RegExp(word, 'gm')) ?? []).length > 1;
        const used = elsewhere || inOwnSignatures;
        if (!used) dead.push(`${path.relative(libRoot, module)}: ${name}`);
      }
    }
    assert.deepEqual(dead, []);
  });
});
