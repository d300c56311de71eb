// Runs a built app (PROFILE_APP) under the V8 CPU profiler of its own process, for bench/profile.mjs. The first
// SIGWINCH drops what was sampled so far (start-up, warm-up) and prints "profiling"; the second writes the
// profile to PROFILE_OUT and prints "profiled". The app keeps running, so the profile covers the measured load.
// SIGWINCH, because it does nothing by default and Nest's shutdown hooks close the app on SIGUSR1/SIGUSR2.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post('Profiler.start');

let started = false;
process.on('SIGWINCH', () => {
  if (!started) {
    started = true;
    void session
      .post('Profiler.stop')
      .then(() => session.post('Profiler.start'))
      .then(() => process.stdout.write('profiling\n'));
    return;
  }
  void session.post('Profiler.stop').then(({ profile }) => {
    writeFileSync(process.env.PROFILE_OUT, JSON.stringify(profile));
    process.stdout.write('profiled\n');
  });
});

await import(pathToFileURL(process.env.PROFILE_APP).href);
