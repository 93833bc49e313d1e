/**
 * Links from report.html to the HTML page of each executed notebook (written by `npm start` into
 * outputs/notebooks/): a marked section before </main>, replaced on every run, so re-running
 * never stacks two lists.
 */
import { escapeHtml } from './html';

export interface NotebookPage {
  /** e.g. "04-evaluate" */
  title: string;
  /** Relative to the report, e.g. "notebooks/04-evaluate.html". */
  href: string;
}

const start = '<!-- notebook-pages -->';
const end = '<!-- /notebook-pages -->';

export function withNotebookPageLinks(reportHtml: string, pages: NotebookPage[]): string {
  const before = reportHtml.indexOf(start);
  const after = reportHtml.indexOf(end);
  const cleaned =
    before >= 0 && after > before ? reportHtml.slice(0, before) + reportHtml.slice(after + end.length) : reportHtml;
  if (pages.length === 0) return cleaned;
  const items = pages
    .map((page) => `<li><a href="${escapeHtml(page.href)}">${escapeHtml(page.title)}</a></li>`)
    .join('');
  const section = `${start}<h2>The executed notebooks</h2><ul class="notebook-pages">${items}</ul>${end}`;
  const anchor = cleaned.lastIndexOf('</main>');
  const at = anchor >= 0 ? anchor : Math.max(0, cleaned.lastIndexOf('</body>'));
  return cleaned.slice(0, at) + section + cleaned.slice(at);
}
