import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

/**
 * No dead code: knip (knip.json) follows the imports from the entry points (src/index.ts, src/node/index.ts,
 * the CLI, the web page, bench/, scripts/, the tests) and reports files nothing reaches and exports nothing
 * imports. What the two entry points export is the public API and counts as used.
 */
test('knip finds no unused files, exports or exported types', () => {
  const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const knip = path.join(repo, 'node_modules/knip/bin/knip.js');
  const r = spawnSync(process.execPath, [knip, '--no-progress', '--include', 'files,exports,types,duplicates'], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `knip:\n${r.stdout}${r.stderr}`);
});
