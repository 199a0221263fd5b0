import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ZOO } from '../index.js';
import { zooLocations } from '../node/index.js';
import { addRunOptions } from './options.js';

/** `uap models`: the zoo, with where each model would be read from right now (offline first). */
export function registerModels(program: Command): void {
  const cmd = program.command('models').description('list the model zoo and which models are available offline');
  addRunOptions(cmd, { json: 'print JSON on stdout' }).action((o: { modelsDir?: string; json?: boolean }) => {
    const rows = ZOO.map((e) => {
      const places = zooLocations(e, { modelsDir: o.modelsDir }).map((l) => [l.place, path.join(l.dir, e.file)] as const);
      const found = places.find(([, p]) => existsSync(p));
      return {
        name: e.name,
        format: e.format,
        input: e.inputShape.join('×'),
        available: found ? `${found[0]}: ${found[1]}` : e.url ? `download: ${e.url}` : 'missing',
        description: e.description,
      };
    });
    if (o.json) {
      console.log(JSON.stringify(rows));
      return;
    }
    for (const r of rows) console.log(`${r.name.padEnd(30)} ${r.format.padEnd(7)} ${r.input.padEnd(10)} ${r.available}`);
  });
}
