import type { Command } from 'commander';
import path from 'node:path';
import { UapError } from '../errors.js';
import { collectReportData, hasContent } from '../node/report-files.js';
import { writeFileAtomic } from '../node/perturbation-files.js';
import { renderReport } from '../report/html.js';
import { packageVersion } from './context.js';

interface ReportFlags {
  out?: string;
  title?: string;
}

/** `uap report DIR`: one self-contained HTML page of every run and evaluation found under DIR. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description('build one self-contained HTML page (opens offline) from the runs and evaluation files under DIR')
    .argument('<dir>', 'folder of runs: perturbation.npy/.json folders, sweep*.json, transfer*.json, subspace*.json, dominant*.json, eval*.json, samples*.json')
    .option('--out <file>', 'where the page goes (default: DIR/report.html)')
    .option('--title <text>', 'page title')
    .action(async (dir: string, f: ReportFlags) => {
      const out = await reportCommand(dir, f);
      console.error(`report written to ${out}`);
    });
}

export async function reportCommand(dir: string, f: ReportFlags): Promise<string> {
  const data = await collectReportData(dir, { packageVersion, ...(f.title !== undefined ? { title: f.title } : {}) });
  for (const s of data.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  if (!hasContent(data)) {
    throw new UapError('NOT_FOUND', 'found no runs (perturbation.npy + perturbation.json) or evaluation files to report', dir);
  }
  const out = f.out ?? path.join(dir, 'report.html');
  await writeFileAtomic(out, renderReport(data));
  return out;
}
