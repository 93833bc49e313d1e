/**
 * Progress for long work: a bar on the terminal (stderr), a live-updating line in notebooks.
 */
import type { Progress } from '../core/contracts';
import { inNotebook, liveOutput } from './display';
import { escapeHtml } from './html';

export type { Progress };

const barWidth = 30;

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  // Round once, then split: rounding the seconds part alone gave "60s" and "1m60s" for 59.6 and 119.7.
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** Rates over less time than this are noise (the first tick gave "1000.0/s | eta 0s"): not shown. */
const minimumSecondsForRate = 1;

export function describeProgress(
  label: string,
  done: number,
  total: number,
  elapsedSeconds: number,
  note?: string,
  final = done >= total,
): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * barWidth);
  const rate = elapsedSeconds >= minimumSecondsForRate ? done / elapsedSeconds : undefined;
  const remaining = rate ? (total - done) / rate : Infinity;
  const bar = `${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}`;
  const parts = [`${label} ${bar} ${done}/${total} ${(fraction * 100).toFixed(0)}%`];
  if (rate !== undefined) parts.push(`${rate.toFixed(1)}/s`);
  parts.push(final ? `took ${formatSeconds(elapsedSeconds)}` : `eta ${formatSeconds(remaining)}`);
  if (note) parts.push(note);
  return parts.join(' | ');
}

export function createProgress(label: string, total: number, options: { quiet?: boolean } = {}): Progress {
  const started = Date.now();
  let lastDrawn = 0;
  if (options.quiet) return { update: () => undefined, finish: () => undefined };

  if (inNotebook()) {
    const output = liveOutput();
    const draw = (done: number, note?: string, final?: boolean) => {
      const line = describeProgress(label, done, total, (Date.now() - started) / 1000, note, final);
      output.html(`<pre style="margin:0">${escapeHtml(line)}</pre>`);
    };
    draw(0);
    return {
      update(done, note) {
        if (Date.now() - lastDrawn < 250 && done < total) return;
        lastDrawn = Date.now();
        draw(done, note);
      },
      finish(note, done = total) {
        draw(done, note, true);
      },
    };
  }

  const interactive = process.stderr.isTTY;
  const write = (done: number, note: string | undefined, final: boolean) => {
    const line = describeProgress(label, done, total, (Date.now() - started) / 1000, note, final || undefined);
    if (interactive) process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
  return {
    update(done, note) {
      // Redraw at most 4 times a second on a terminal, every 10 s in logs (CI).
      const interval = interactive ? 250 : 10_000;
      if (Date.now() - lastDrawn < interval || (!interactive && done >= total)) return; // finish() prints the last line
      lastDrawn = Date.now();
      write(done, note, false);
    },
    finish(note, done = total) {
      write(done, note, true);
    },
  };
}
