#!/usr/bin/env node
// The `uap` command. An installed package runs the built JavaScript (dist/cli/main.js, built by `npm run build`,
// which `npm ci`, `npm pack` and git installs run). In a checkout of the repository, where the TypeScript sources
// sit beside this file, it runs them through tsx instead (a dev dependency), so an edit needs no rebuild;
// UAP_BUILT=1 runs the built code there too.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (process.env.UAP_BUILT !== '1' && existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
