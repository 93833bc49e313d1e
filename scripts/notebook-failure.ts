/**
 * What `npm start` says about a notebook that failed: which notebook and cell, the cell's first
 * lines, and the error as the user reads it in Jupyter (the kernel's stderr for the cell), without
 * the frames of tslab, Node's vm or Python's nbclient.
 */

/** scripts/execute-notebook.py writes this for each notebook it runs. */
export interface NotebookResult {
  status: 'ok' | 'error' | 'timeout' | 'dead kernel' | 'not run' | 'interrupted';
  cellIndex?: number;
  codeCellNumber?: number;
  source?: string;
  /** Everything the failing cell wrote to stderr: tslab prints the error there. */
  stderr?: string;
  /** From the kernel's error reply: tslab leaves evalue empty and nbclient says "<Error>". */
  ename?: string;
  evalue?: string;
  message?: string;
}

const sourceLinesShown = 6;
const framesShownPerError = 5;
const errorLinesShown = 30;

/** Stack frames of the kernel's machinery, not of the user's or the project's code. */
function isMachineryFrame(line: string): boolean {
  return /^\s+at /.test(line) && /node_modules[\\/]tslab[\\/]|\(node:|at node:|sigintHandlersWrap/.test(line);
}

/** The cell's stderr with the machinery frames dropped and long traces shortened. */
export function errorLines(stderr: string): string[] {
  const lines: string[] = [];
  let framesInRow = 0;
  let hidden = 0;
  const flushHidden = () => {
    if (hidden > 0) lines.push(`    ... ${hidden} more frame${hidden === 1 ? '' : 's'}`);
    hidden = 0;
  };
  for (const line of stderr.replace(/\s+$/, '').split('\n')) {
    if (isMachineryFrame(line)) continue;
    if (/^\s+at /.test(line)) {
      framesInRow++;
      if (framesInRow > framesShownPerError) hidden++;
      else lines.push(line);
      continue;
    }
    flushHidden();
    framesInRow = 0;
    lines.push(line);
  }
  flushHidden();
  const kept = lines.filter((line, index) => line.trim() !== '' || (index > 0 && lines[index - 1].trim() !== ''));
  if (kept.length <= errorLinesShown) return kept;
  return [`(${kept.length - errorLinesShown} earlier lines in the notebook)`, ...kept.slice(-errorLinesShown)];
}

/** The error as one block of text: the cell's stderr if it wrote any, else the kernel's reply. */
export function errorText(result: NotebookResult): string {
  if (result.status === 'timeout' || result.status === 'dead kernel' || result.status === 'not run') {
    const lines = result.stderr ? errorLines(result.stderr) : [];
    return [result.message || result.status, ...lines].join('\n');
  }
  const lines = errorLines(result.stderr ?? '');
  if (lines.length > 0) return lines.join('\n');
  if (result.ename && result.ename !== '<Error>') return `${result.ename}: ${result.evalue ?? ''}`;
  return 'the cell failed without an error message (the kernel wrote nothing to stderr)';
}

/** The report printed for a failed notebook. */
export function describeFailure(notebook: string, result: NotebookResult, executedCopy: string | undefined): string {
  const indent = (text: string) =>
    text
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n');
  const parts: string[] = [];
  if (result.cellIndex !== undefined && result.cellIndex !== null) {
    const sourceLines = (result.source ?? '').split('\n');
    const shown = sourceLines.slice(0, sourceLinesShown);
    if (sourceLines.length > sourceLinesShown) shown.push(`... (${sourceLines.length - sourceLinesShown} more lines)`);
    const what = result.status === 'error' ? 'failed' : `stopped: ${result.status}`;
    parts.push(`${notebook}: code cell ${result.codeCellNumber} (In [${result.codeCellNumber}]) ${what}:`);
    parts.push(indent(shown.join('\n')));
    parts.push('  error:');
  } else {
    parts.push(`${notebook} could not run:`);
  }
  parts.push(indent(errorText(result)));
  if (executedCopy) parts.push(`The executed notebook, with the error in place: ${executedCopy}`);
  return parts.join('\n');
}

/**
 * What `npm start` says when Ctrl-C stopped a notebook: the notebook, the cell and the cell's own
 * line ("training interrupted after epoch 3 ..."; a cell without a long loop in it shows tslab's).
 */
export function describeInterruption(
  notebook: string,
  result: NotebookResult,
  executedCopy: string | undefined,
): string {
  const said = (result.stderr ?? '')
    .split('\n')
    .reverse()
    .find((line) => /interrupted/i.test(line));
  const cell = result.codeCellNumber ? `, code cell ${result.codeCellNumber} (In [${result.codeCellNumber}])` : '';
  const firstLine = (result.source ?? '').split('\n')[0];
  const lines = [`interrupted: ${notebook}${cell}${firstLine ? `: ${firstLine}` : ''}`];
  lines.push(`  ${said?.trim() ?? result.message ?? 'stopped by Ctrl-C'}`);
  if (executedCopy) lines.push(`The executed notebook, up to that cell: ${executedCopy}`);
  return lines.join('\n');
}
