// The allowed arrows between folders (ARCHITECTURE.md): `npm run lint:deps` checks src/ and launcher/ against them.
// Layers, bottom up: errors/dtype/constants → transport → collectives → bootstrap → comm → init/index → dl;
// launcher/ runs in the tsrun process and takes only the store server, host helpers and errors from src/.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no module imports itself through others', from: {}, to: { circular: true } },
    {
      name: 'shared-modules-are-leaves',
      severity: 'error',
      comment: 'errors.ts, dtype.ts and constants.ts are used by every layer and import none',
      from: { path: '^src/(errors|dtype|constants)[.]ts$' },
      to: { path: '^src/(transport|collectives|bootstrap|comm|dl)/|^src/(init|index)[.]ts$' },
    },
    {
      name: 'native-is-a-leaf',
      severity: 'error',
      comment: 'the native helpers (kernels, shared mappings) are used by collectives and transports alike',
      from: { path: '^src/native/' },
      to: { path: '^src/(?!native/)' },
    },
    {
      name: 'transport-knows-nothing-above-it',
      severity: 'error',
      from: { path: '^src/transport/' },
      to: { path: '^src/(collectives|bootstrap|comm|dl)/|^src/(init|index)[.]ts$' },
    },
    {
      name: 'collectives-see-only-their-context',
      severity: 'error',
      comment: 'algorithms run on a CollectiveContext, so each can be tested against an in-memory one',
      from: { path: '^src/collectives/' },
      to: { path: '^src/(transport|bootstrap|comm|dl)/|^src/(init|index)[.]ts$|zeromq' },
    },
    {
      name: 'bootstrap-uses-the-transport-interface',
      severity: 'error',
      comment: 'bootstrap sees transport/transport.ts only; its own zmq/ store may reuse the zmq send queue',
      from: { path: '^src/bootstrap/' },
      to: { path: '^src/(collectives|comm|dl)/|^src/(init|index)[.]ts$|^src/transport/(?!transport[.]ts$|zmq/send-queue[.]ts$)' },
    },
    {
      name: 'bootstrap-core-has-no-zeromq',
      severity: 'error',
      from: { path: '^src/bootstrap/(?!zmq/)' },
      to: { path: '^src/transport/zmq/' },
    },
    {
      name: 'comm-does-not-bootstrap',
      severity: 'error',
      from: { path: '^src/comm/' },
      to: { path: '^src/(bootstrap|dl)/|^src/transport/(?!transport[.]ts$)|^src/(init|index)[.]ts$' },
    },
    {
      name: 'zeromq-only-in-zmq-folders',
      severity: 'error',
      from: { path: '^src/', pathNot: '/zmq/' },
      to: { path: 'node_modules/zeromq/' },
    },
    {
      name: 'tensorflow-only-in-dl-backend',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/dl/backend[.]ts$' },
      to: { path: 'node_modules/@tensorflow/' },
    },
    {
      name: 'dl-is-a-user-of-the-public-api',
      severity: 'error',
      from: { path: '^src/dl/' },
      to: { path: '^src/(?!dl/|index[.]ts$)' },
    },
    {
      name: 'ranks-never-import-the-launcher',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^launcher/' },
    },
    {
      name: 'failure-records-beside-init',
      severity: 'error',
      comment: 'failure records: written where the transport declares a peer lost (its onPeerLost), armed by init',
      from: { path: '^src/failure/' },
      to: { path: '^src/(?!failure/|transport/transport[.]ts$|bootstrap/protocol[.]ts$|(errors|settings)[.]ts$)' },
    },
    {
      name: 'failure-format-is-plain',
      severity: 'error',
      comment: 'the record format and the failure messages are plain data and words, shared with the launcher',
      from: { path: '^src/failure/(format|messages)[.]ts$' },
      to: { path: '^src/(?!failure/(format|messages)[.]ts$)|^node:' },
    },
    {
      name: 'launcher-takes-little-from-src',
      severity: 'error',
      from: { path: '^launcher/' },
      to: { path: '^src/(?!errors[.]ts$|bootstrap/(iface|slurm-env|zmq/store-server)[.]ts$|transport/shm/slots[.]ts$|native/native[.]ts$|trace/(finish|merge|report|svg)[.]ts$|failure/(format|messages)[.]ts$)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|bench|examples|dist)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
  },
}
