import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Command } from 'commander';
import { computeSettings, recipeFlags, registerCompute, type ComputeFlags } from '../src/cli/compute.js';
import { augment } from '../src/cli/options.js';

/**
 * README.md's "Default recipe" table is what `uap compute` runs with only --model, --data, --norm, --xi and
 * --out: the flags go through the real command (Commander's defaults included) and computeSettings, the
 * resolution every run uses, and each setting it records must be a row of the table with the same value, and
 * each row a setting. Changing a default in the library or the CLI without the README (or the reverse) fails here.
 */

const XI = 10;

/** The flags Commander hands to the action of `uap compute` for a command line (the action itself does not run). */
function flagsOf(args: string[]): ComputeFlags {
  const program = new Command().exitOverride();
  registerCompute(program);
  let flags: ComputeFlags | undefined;
  program.hook('preAction', (_p, action) => {
    flags = action.opts() as ComputeFlags;
    throw new Error('stop before the action');
  });
  assert.throws(() => program.parse(['node', 'uap', ...args]), /stop before the action/);
  return flags!;
}

/** The rows of the first table under `## Default recipe`: flag (column 3) → default (column 2), backticks removed. */
function readmeTable(): Map<string, string> {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Default recipe'));
  assert.ok(section, 'README.md has a "## Default recipe" section');
  const rows = section.split('\n').filter((l) => l.startsWith('|'));
  const table = new Map<string, string>();
  for (const row of rows.slice(2)) {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length !== 3) break; // the next table
    const value = /^`([^`]*)`/.exec(cells[1]!)?.[1];
    const flag = /^`(--[a-z-]+)`$/.exec(cells[2]!)?.[1];
    assert.ok(value !== undefined && flag, `a row "| setting | \`value\` | \`--flag\` |": ${row}`);
    table.set(flag, value);
  }
  return table;
}

/** The recorded option of each flag, and how a README cell reads as that option's value. */
const FLAGS: Record<string, { key: string; read: (cell: string) => unknown }> = {
  '--method': { key: 'method', read: String },
  '--batch-size': { key: 'batchSize', read: Number },
  '--minibatch': { key: 'minibatch', read: Number },
  '--inner-steps': { key: 'innerSteps', read: Number },
  '--step-size': { key: 'stepSize', read: (c) => (c === 'ξ/10' ? XI / 10 : Number(c)) },
  '--inner-step-size': { key: 'innerStepSize', read: (c) => (c === 'ξ/10' ? XI / 10 : Number(c)) },
  '--schedule': { key: 'schedule', read: String },
  '--loss': { key: 'loss', read: String },
  '--beta': { key: 'beta', read: Number },
  '--kappa': { key: 'kappa', read: Number },
  '--momentum': { key: 'momentum', read: Number },
  '--optimizer': { key: 'optimizer', read: String },
  '--augment': { key: 'augment', read: (c) => augment('--augment', c) },
  '--max-passes': { key: 'maxPasses', read: Number },
  '--delta': { key: 'delta', read: (c) => (c === 'none' ? undefined : Number(c)) },
};

test("README.md's default-recipe table is what `uap compute` runs without --method", () => {
  const f = flagsOf(['compute', '--model', 'm', '--data', 'd', '--norm', 'inf', '--xi', String(XI), '--out', 'o']);
  const s = computeSettings(f);
  const actual: Record<string, unknown> = { method: s.method, ...s.recorded };
  // Not recipe settings: the data (--limit) and which pass is returned (--keep-best, off).
  delete actual.limit;
  assert.equal(actual.keepBest, false);
  delete actual.keepBest;

  const table = readmeTable();
  const documented: Record<string, unknown> = {};
  for (const [flag, cell] of table) {
    const spec = FLAGS[flag];
    assert.ok(spec, `README row for ${flag}: not a setting this test knows`);
    documented[spec.key] = spec.read(cell);
  }
  // Every recorded setting is documented (delta is recorded only when set: "none" is its absence).
  if (!('delta' in actual) && table.get('--delta') === 'none') actual.delta = undefined;
  assert.deepEqual(
    Object.keys(documented).sort(),
    Object.keys(actual).sort(),
    'the README table lists exactly the settings of the default run',
  );
  for (const key of Object.keys(actual)) {
    const a = key === 'augment' ? JSON.stringify(augment('--augment', specOf(actual.augment))) : JSON.stringify(actual[key]);
    assert.equal(JSON.stringify(documented[key]), a, `README.md's "Default recipe" says ${key} = ${JSON.stringify(documented[key])}; uap compute uses ${a}`);
  }
});

test('`uap compute --help` names the recipe as the flags it stands for, with the README values', () => {
  const program = new Command();
  registerCompute(program);
  const help = helpAfter(program).replace(/\s+/g, ' ');
  const words = recipeFlags();
  assert.ok(help.includes(`Default recipe (no --method): ${words.join(' ')}`), help);
  const table = readmeTable();
  for (let i = 0; i < words.length; i += 2) assert.equal(table.get(words[i]!), words[i + 1], `README.md's value of ${words[i]}`);
});

/** The text `addHelpText('after', …)` prints after the option list. */
function helpAfter(program: Command): string {
  let out = '';
  const cmd = program.commands.find((c) => c.name() === 'compute')!;
  cmd.configureOutput({ writeOut: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

/** An AugmentOptions back as the --augment list it came from. */
function specOf(a: unknown): string {
  const o = (a ?? {}) as { flip?: boolean; minScale?: number; jpeg?: [number, number] };
  const parts = [o.flip ? 'flip' : '', o.minScale !== undefined && o.minScale < 1 ? `crop:${o.minScale}` : '', o.jpeg ? `jpeg:${o.jpeg[0]}-${o.jpeg[1]}` : ''];
  return parts.filter(Boolean).join(',') || 'none';
}
