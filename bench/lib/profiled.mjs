// Runs a built app (PROFILE_APP) under the V8 CPU profiler of its own process, for bench/profile.mjs (with
// PROFILE_ALLOCATIONS=true, V8's sampling heap profiler instead, counting objects the GC already collected too:
// what is allocated, not what stays). The first SIGWINCH drops what was sampled so far (start-up, warm-up) and
// prints "profiling"; the second writes the profile to PROFILE_OUT and prints "profiled". The app keeps running,
// so the profile covers the measured load. SIGWINCH, because it does nothing by default and Nest's shutdown hooks
// close the app on SIGUSR1/SIGUSR2.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';

const session = new Session();
session.connect();
const allocations = process.env.PROFILE_ALLOCATIONS === 'true';
const [domain, start, stop] = allocations
  ? ['HeapProfiler', 'startSampling', 'stopSampling']
  : ['Profiler', 'start', 'stop'];
const sampling = allocations
  ? { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }
  : {};
await session.post(`${domain}.enable`);
if (!allocations) await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post(`${domain}.${start}`, sampling);

let started = false;
process.on('SIGWINCH', () => {
  if (!started) {
    started = true;
    void session
      .post(`${domain}.${stop}`)
      .then(() => session.post(`${domain}.${start}`, sampling))
      .then(() => process.stdout.write('profiling\n'));
    return;
  }
  void session.post(`${domain}.${stop}`).then(({ profile }) => {
    writeFileSync(process.env.PROFILE_OUT, JSON.stringify(profile));
    process.stdout.write('profiled\n');
  });
});

await import(pathToFileURL(process.env.PROFILE_APP).href);
