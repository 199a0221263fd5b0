import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/**
 * The layering (.dependency-cruiser.cjs, run by scripts/lint-deps.mjs): the repository keeps every rule, and
 * a fixture that breaks each rule once is caught, rule by rule — so a rule that stopped matching anything
 * (a typo in a path pattern, a resolver change) fails here instead of passing silently.
 */

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-deps-'));

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(cwd: string, config: string, paths: string[]): { status: number | null; violations: Violation[]; stderr: string } {
  const out = path.join(tmp, `${path.basename(cwd)}-${paths.join('-').replace(/\W/g, '')}.json`);
  const r = spawnSync(
    process.execPath,
    [path.join(repo, 'scripts/lint-deps.mjs'), '--config', config, '--output-type', 'json', '--output-to', out, ...paths],
    { cwd, encoding: 'utf8', timeout: 60_000 },
  );
  const result = JSON.parse(readFileSync(out, 'utf8')) as { summary: { violations: Violation[] } };
  return { status: r.status, violations: result.summary.violations, stderr: r.stderr };
}

test('src/, web/, bench/ and scripts/ keep the layering: no cycles, a browser-safe core, shells through the entry points', () => {
  const r = cruise(repo, '.dependency-cruiser.cjs', ['src', 'web', 'bench', 'scripts']);
  assert.deepEqual(
    r.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
  );
  assert.equal(r.status, 0, r.stderr);
});

test('lint:deps (the err reporter) exits non-zero on the fixture', () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'scripts/lint-deps.mjs'), '--config', path.join(repo, '.dependency-cruiser.cjs'), 'src', 'web'], {
    cwd: path.join(repo, 'test/fixtures/layering'),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /17 dependency violations/);
});

test('a fixture with one forbidden import per rule fails with exactly those violations', () => {
  const fixture = path.join(repo, 'test/fixtures/layering');
  const r = cruise(fixture, path.join(repo, '.dependency-cruiser.cjs'), ['src', 'web']);
  const found = r.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*node_modules\//, 'node_modules/')}`).sort();
  assert.deepEqual(found, [
    'cli-through-entry-points: src/cli/main.ts → src/eval/ping.ts',
    'cli-through-entry-points: src/cli/main.ts → src/models/double.ts',
    'core-no-node-builtins: src/models/double.ts → fs',
    'core-no-node-packages: src/report/encode.ts → node_modules/sharp/dist/index.d.mts',
    'core-not-to-rim: src/models/double.ts → src/node/helper.ts',
    'flow-attacks: src/attacks/attack.ts → src/eval/ping.ts',
    'flow-data: src/data/up.ts → src/models/double.ts',
    'flow-defense: src/defense/defend.ts → src/report/encode.ts',
    'flow-eval: src/eval/up.ts → src/defense/defend.ts',
    'flow-models: src/models/up.ts → src/attacks/attack.ts',
    'leaves-import-no-layer: src/util/leaf.ts → src/data/up.ts',
    'no-circular: src/eval/ping.ts → src/eval/pong.ts',
    'node-not-to-cli: src/node/own.ts → src/cli/main.ts',
    'shells-through-entry-points: web/page.ts → src/models/double.ts',
    'shipped-code-no-test-helpers: src/models/uses-fake.ts → src/models/testing/fake.ts',
    'web-is-browser: web/page.ts → src/node/index.ts',
    'web-no-node-builtins: web/page.ts → fs',
  ]);
  // every rule of the config is exercised by the fixture
  const rules = (createRequire(import.meta.url)(path.join(repo, '.dependency-cruiser.cjs')) as { forbidden: { name: string }[] }).forbidden;
  assert.deepEqual(new Set(r.violations.map((v) => v.rule.name)), new Set(rules.map((rule) => rule.name)));
});
