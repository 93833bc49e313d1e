/**
 * Rich output in notebooks. Inside the tslab kernel, pictures and live-updating outputs go through
 * tslab's display; in a terminal (scripts, tests) the same calls fall back to plain text or nothing.
 */
import { writeFileAtomicSync } from '../core/atomic';
import { Config } from '../core/config';
import { FigureName, outputPaths } from '../core/paths';
import { escapeHtml } from './html';

type TslabModule = typeof import('tslab');

/* eslint-disable @typescript-eslint/no-require-imports -- tslab exists only inside the kernel */
function tslabInKernel(): TslabModule | undefined {
  try {
    // tslab's display only works when this process is the kernel (it has a channel to write to).
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
    if (jupyter.lastWriteDisplayData == null) return undefined;
    return require('tslab') as TslabModule;
  } catch {
    return undefined;
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */

export function inNotebook(): boolean {
  return tslabInKernel() !== undefined;
}

/** One output area that can be overwritten, e.g. a chart redrawn after each epoch. */
export interface LiveOutput {
  png(image: Uint8Array): void;
  html(markup: string): void;
  text(line: string): void;
}

export function liveOutput(): LiveOutput {
  const tslab = tslabInKernel();
  if (!tslab) {
    return { png: () => undefined, html: () => undefined, text: (line) => console.log(line) };
  }
  const display = tslab.newDisplay();
  return {
    png: (image) => display.png(image),
    html: (markup) => display.html(markup),
    text: (line) => display.text(line),
  };
}

/** Shows a PNG inline in a notebook; in a terminal, says where it was saved instead. */
export function showPng(image: Uint8Array, savedAs?: string): void {
  const tslab = tslabInKernel();
  if (tslab) tslab.display.png(image);
  else if (savedAs) console.log(`(figure saved to ${savedAs})`);
}

export function showHtml(markup: string): void {
  tslabInKernel()?.display.html(markup);
}

/** A small HTML table, for metrics and counts in notebooks. */
export function htmlTable(header: string[], rows: (string | number)[][]): string {
  const cell = (value: string | number, tag: string) =>
    `<${tag} style="padding:2px ` +
    `10px;text-align:${typeof value === 'number' ? 'right' : 'left'}">${escapeHtml(String(value))}</${tag}>`;
  return `<table><thead><tr>${header.map((h) => cell(h, 'th')).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((value) => cell(value, 'td')).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** Saves a figure of the run as outputs/figures/<name>.png (the report picks it up by name). */
export function saveFigure(config: Pick<Config, 'outputsDir'>, name: FigureName, png: Uint8Array): string {
  const file = outputPaths(config).figure(name);
  writeFileAtomicSync(file, png);
  return file;
}
