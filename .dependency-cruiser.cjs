// The allowed arrows between folders (ARCHITECTURE.md): `npm run lint:deps` checks src/ and launcher/ against them.
// Layers, bottom up: the shared modules (errors, dtype, half, constants, proof, settings) and native/ → trace/ (the
// recorder) → transport/ → collectives/ → bootstrap/ → comm/ → timeline/, failure/ → init/finalize/index → dl/;
// trace-offline/ (merge, report, SVG) reads what trace/ wrote, for the launcher and for rank 0 under srun;
// launcher/ runs in the tsrun process and takes only what it names from src/. Every folder of src/ has a rule
// (the last one fails for a file in a folder no rule knows).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no module imports itself through others', from: {}, to: { circular: true } },
    {
      name: 'shared-modules-are-leaves',
      severity: 'error',
      comment: 'the shared modules are used by every layer and import only each other (half.ts: the native kernels)',
      from: { path: '^src/(errors|dtype|constants|half|proof|settings)[.]ts$' },
      to: { path: '^src/(?!(errors|dtype|constants|half|proof|settings)[.]ts$|native/)' },
    },
    {
      name: 'trace-recorder-is-low',
      severity: 'error',
      comment: 'trace/ records events for comm and collectives; it knows no communicator, transport or session',
      from: { path: '^src/trace/' },
      to: { path: '^src/(?!trace/|(errors|dtype|constants|settings)[.]ts$)' },
    },
    {
      name: 'trace-offline-reads-files',
      severity: 'error',
      comment: 'merge, report and SVG work on the files the recorder wrote (its event types), after the job',
      from: { path: '^src/trace-offline/' },
      to: { path: '^src/(?!trace-offline/|trace/recorder[.]ts$|(errors|settings)[.]ts$)' },
    },
    {
      name: 'timeline-session-beside-init',
      severity: 'error',
      comment: 'the rank side of the timeline: started by init, clock round trips on a dup of the world',
      from: { path: '^src/timeline/' },
      to: { path: '^src/(?!timeline/|trace/|trace-offline/|comm/communicator[.]ts$|(errors|dtype|constants|settings)[.]ts$)' },
    },
    {
      name: 'comm-calls-see-the-state',
      severity: 'error',
      comment: 'the call families are functions of the communicator state; only communicator.ts assembles them',
      from: { path: '^src/comm/calls/' },
      to: { path: '^src/comm/communicator[.]ts$' },
    },
    {
      name: 'native-is-a-leaf',
      severity: 'error',
      comment: 'the native helpers (kernels, shared mappings) are used by collectives and transports alike',
      from: { path: '^src/native/' },
      to: { path: '^src/(?!native/|settings[.]ts$|errors[.]ts$)' },
    },
    {
      name: 'transport-knows-nothing-above-it',
      severity: 'error',
      from: { path: '^src/transport/' },
      to: { path: '^src/(collectives|bootstrap|comm|dl|timeline|trace|trace-offline|failure)/|^src/(init|index|finalize)[.]ts$' },
    },
    {
      name: 'collectives-see-only-their-context',
      severity: 'error',
      comment: 'algorithms run on a CollectiveContext, so each can be tested against an in-memory one',
      from: { path: '^src/collectives/' },
      to: { path: '^src/(transport|bootstrap|comm|dl|timeline|trace|trace-offline)/|^src/(init|index|finalize)[.]ts$|zeromq' },
    },
    {
      name: 'bootstrap-uses-the-transport-interface',
      severity: 'error',
      comment: 'bootstrap sees transport/transport.ts only; its own zmq/ store may reuse the zmq send queue',
      from: { path: '^src/bootstrap/' },
      to: {
        path: '^src/(collectives|comm|dl|timeline|trace|trace-offline)/|^src/(init|index|finalize)[.]ts$|^src/transport/(?!transport[.]ts$|zmq/send-queue[.]ts$)',
      },
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
      to: { path: '^src/(bootstrap|dl|timeline|trace-offline)/|^src/transport/(?!transport[.]ts$)|^src/(init|index|finalize)[.]ts$' },
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
      to: { path: '^src/(?!dl/|index[.]ts$|settings[.]ts$)' },
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
      name: 'elastic-beside-init',
      severity: 'error',
      comment: 'elastic/: generations of worlds, formed by world.ts; runElastic calls init; keys.ts is plain data shared with the launcher',
      from: { path: '^src/elastic/' },
      to: { path: '^src/(collectives|dl|timeline|trace|trace-offline|failure)/|^src/transport/(?!transport[.]ts$)|^src/(index|finalize)[.]ts$|zeromq' },
    },
    {
      name: 'elastic-keys-are-plain',
      severity: 'error',
      from: { path: '^src/elastic/keys[.]ts$' },
      to: { path: '^src/|^node:' },
    },
    {
      name: 'launcher-takes-little-from-src',
      severity: 'error',
      from: { path: '^launcher/' },
      to: {
        path: '^src/(?!errors[.]ts$|bootstrap/(iface|slurm-env|slurm-hostlist|zmq/store-server)[.]ts$|transport/shm/files[.]ts$|native/(native|file-limit)[.]ts$|trace-offline/(finish|merge|report|svg)[.]ts$|settings[.]ts$|failure/(format|messages)[.]ts$|elastic/keys[.]ts$)',
      },
    },
    {
      name: 'every-folder-has-a-rule',
      severity: 'error',
      comment: 'a file of src/ outside the known layers: give its folder a rule above (and a row in ARCHITECTURE.md)',
      from: {
        path: '^src/',
        pathNot:
          '^src/((errors|dtype|constants|half|proof|settings|init|index|finalize|world)[.]ts|(native|trace|transport|collectives|bootstrap|comm|timeline|trace-offline|failure|elastic|dl)/.*)$',
      },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|bench|examples|dist)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
  },
}
