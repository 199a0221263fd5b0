import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The API reference check (`npm run docs:check` in .ci/run) fails on an undocumented export: TypeDoc runs with the
 * repository's typedoc.json (warnings as errors, validation.notDocumented) on a two-export entry point, once with
 * both documented (it must pass) and once with one left bare (it must fail, naming that export).
 */

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function typedoc(source: string): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'uap-typedoc-'));
  try {
    writeFileSync(path.join(dir, 'index.ts'), source);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true, types: [] }, files: ['index.ts'] }));
    const config = JSON.parse(readFileSync(path.join(repo, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
    delete config.intentionallyNotExported; // names in the repository's sources, absent here
    delete config.$schema;
    writeFileSync(path.join(dir, 'typedoc.json'), JSON.stringify({ ...config, entryPoints: ['index.ts'], tsconfig: 'tsconfig.json', out: 'api' }));
    const r = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--options', 'typedoc.json'], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const documented = `/** The sum of a and b. */
export function add(a: number, b: number): number {
  return a + b;
}
`;

test('typedoc (repository settings) passes on documented exports and fails on an undocumented one', { timeout: 240_000 }, () => {
  const ok = typedoc(`/**\n * A fixture.\n * @module fixture\n */\n\n${documented}\n/** The difference a − b. */\nexport function sub(a: number, b: number): number {\n  return a - b;\n}\n`);
  assert.equal(ok.status, 0, ok.output);
  const bare = typedoc(`/**\n * A fixture.\n * @module fixture\n */\n\n${documented}\nexport function sub(a: number, b: number): number {\n  return a - b;\n}\n`);
  assert.notEqual(bare.status, 0, 'an undocumented export must fail the check');
  assert.match(bare.output, /sub[^\n]*does not have any documentation/);
});
