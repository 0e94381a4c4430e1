/**
 * The engine's folders form layers: a folder may import its own files and the folders below it,
 * never one above it, and no module may import itself back through others. `npm run deps`
 * checks this (part of `npm test` and `npm run lint`).
 *
 *   util < model < comm < compress < run < parallel < launch < projection < torch < app < cli
 *
 * The files at engine/ itself (rank.ts, cli.ts) are process entries above every folder.
 */
const LAYERS = [
  'util',
  'model',
  'comm',
  'compress',
  'run',
  'parallel',
  'launch',
  'projection',
  'torch',
  'app',
  'cli',
];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer}-imports-upward`,
  comment: `engine/${layer}/ may import only ${LAYERS.slice(0, i).join(', ') || 'nothing in the engine'} (below it in the layer order)`,
  severity: 'error',
  from: { path: `^engine/${layer}/` },
  to: { path: `^engine/(${LAYERS.slice(i + 1).join('|')})/|^engine/[^/]+\\.ts$` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle: split the shared part into a module both may import',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'engine-imports-outside',
      comment: 'the engine ships on its own: it may not import benchmarks, tests or the UI',
      severity: 'error',
      from: { path: '^engine/' },
      to: { path: '^(benchmarks|test|renderer|electron)/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to no file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|out|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.engine.json' },
  },
};
