/**
 * The layers of src/ and the directions imports may take (docs/architecture.md).
 * A module may import its own layer and the layers below it, never one above;
 * `service.ts` wires everything and may import anything. No cycles, type-only
 * imports included.
 */
const LAYERS = [
  {
    name: 'ground',
    paths: [
      'lib',
      'storage',
      'settings',
      'activity',
      'errors\\.ts',
      'config\\.ts',
      'clock\\.ts',
      'logger\\.ts',
    ],
  },
  { name: 'domain', paths: ['directory', 'accounts', 'mail'] },
  { name: 'connectors', paths: ['connectors', 'connections'] },
  { name: 'inbox', paths: ['inbox', 'worker'] },
  { name: 'runs', paths: ['runs'] },
  { name: 'intake', paths: ['webhook'] },
  { name: 'faces', paths: ['cli', 'http', 'api'] },
];

const pattern = (paths) => `^src/(${paths.join('|')})($|/)`;

const layerRules = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} (${layer.paths.join(', ')}) may not import a higher layer`,
  severity: 'error',
  from: { path: pattern(layer.paths) },
  to: { path: pattern(LAYERS.slice(index + 1).flatMap((higher) => higher.paths)) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules may not depend on each other in a circle, not even through types.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-service-import',
      comment: 'service.ts wires everything; only the command line (which starts it) imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/service\\.ts$' },
    },
    ...layerRules,
    {
      name: 'lib-is-pure',
      comment: 'lib/ holds small pure helpers: it imports only lib/ (and the error registry).',
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^src/', pathNot: '^src/(lib/|errors\\.ts$)' },
    },
    {
      name: 'connectors-stay-apart',
      comment: 'A connector folder imports no other connector folder.',
      severity: 'error',
      from: { path: '^src/connectors/([^/]+)/' },
      to: { path: '^src/connectors/([^/]+)/', pathNot: '^src/connectors/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
