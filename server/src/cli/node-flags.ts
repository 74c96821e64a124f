/**
 * The V8 flags every server process runs with: `npm start`, the Docker image's CMD, `npm run cluster`, and the load
 * tool (for our server and, so that the comparison stays fair, for the bare relay too). A docs test keeps
 * package.json and the Dockerfile equal to this list.
 *
 * `--max-semi-space-size=64` (MiB; Node 20's default is 16): a message's objects (the decoded frame, the append
 * request, its commit callback, the outbound frames) live until its group commit settles, 10–30 ms under load. With
 * the default young generation most of them survive two scavenges and are promoted, and the old generation then
 * needs a full mark-compact every few seconds. A larger young generation lets them die young: at 9,000 msgs/s,
 * 69–71 instead of 75 µs of CPU per delivered message, a third of the scavenges, and a lower p99, for ~40 MB more RSS
 * under load (loadtest/RESULTS.md).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
