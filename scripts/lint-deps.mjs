#!/usr/bin/env node
/**
 * The layering check: dependency-cruiser with the rules in .dependency-cruiser.cjs (no cycles; the core never
 * imports src/node, src/cli, web/, Node built-ins or Node-only packages; the shells reach the library only
 * through its entry points). Exit code 1 when a rule is broken.
 *
 *   node scripts/lint-deps.mjs [--config FILE] [--output-type err|json|…] [--output-to FILE|-] [PATH …]
 *
 * Default paths: src web bench scripts. Why not dependency-cruiser's own bin: version 18's bin refuses
 * Node 20 (its engines say ^22), while the cruise itself runs on 20; this calls the same CLI entry
 * without the version gate.
 */
const args = process.argv.slice(2);
const options = { config: '.dependency-cruiser.cjs', outputType: 'err', outputTo: '-' };
const paths = [];
const flags = { '--config': 'config', '--output-type': 'outputType', '--output-to': 'outputTo' };
for (let i = 0; i < args.length; i++) {
  const key = flags[args[i]];
  if (key) options[key] = args[++i];
  else paths.push(args[i]);
}
const cli = new URL('../cli/index.mjs', import.meta.resolve('dependency-cruiser'));
const { default: executeCli } = await import(cli.href);
process.exitCode = await executeCli(paths.length ? paths : ['src', 'web', 'bench', 'scripts'], options);
