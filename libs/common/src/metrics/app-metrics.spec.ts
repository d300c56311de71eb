import { AppIdentity } from '../config/config-slices';
import { loadAppConfig } from '../config/app-config';
import { AppMetrics, derivedFrom } from './app-metrics';

function metrics(): AppMetrics {
  return new AppMetrics(new AppIdentity('cache-aside', loadAppConfig({})));
}

describe('AppMetrics', () => {
  it('labels requests by route template, and unmatched ones by what happened', async () => {
    const m = metrics();
    m.observeRequest('GET', '/users/:id', 200, 0.002);
    m.observeRequest('GET', undefined, 404, 0.001);
    m.observeRequest('GET', undefined, 301, 0.001);
    m.observeRequest('GET', undefined, 500, 0.001);
    const text = await m.render();
    expect(text).toContain(
      'http_server_requests_seconds_count{application="cache-aside",method="GET",uri="/users/:id",status="200",outcome="SUCCESS"} 1',
    );
    expect(text).toContain('uri="NOT_FOUND",status="404",outcome="CLIENT_ERROR"} 1');
    expect(text).toContain('uri="REDIRECTION",status="301",outcome="REDIRECTION"} 1');
    expect(text).toContain('uri="UNKNOWN",status="500",outcome="SERVER_ERROR"} 1');
  });

  it('reads each snapshot once per scrape and reports its values, not sums of them', async () => {
    const m = metrics();
    let reads = 0;
    let hits = 5;
    m.derive(
      () => ((reads += 1), { hits, size: 3 }),
      [
        { name: 'x_hits_total', help: 'h', type: 'counter', samples: (s) => [[{}, s.hits]] },
        { name: 'x_size', help: 's', type: 'gauge', samples: (s) => [[{}, s.size]] },
      ],
    );
    expect(await m.render()).toContain('x_hits_total{application="cache-aside"} 5');
    hits = 7;
    const text = await m.render();
    expect(text).toContain('x_hits_total{application="cache-aside"} 7');
    expect(text).toContain('x_size{application="cache-aside"} 3');
    expect(reads).toBe(2);
  });

  it('leaves derived metrics without samples when their snapshot cannot be read', async () => {
    const m = metrics();
    let fail = false;
    m.derive(
      () => {
        if (fail) throw new Error('Redis away');
        return { pending: 4 };
      },
      derivedFrom(
        [{ name: 'x_pending', help: 'p', type: 'gauge', samples: (s: number) => [[{}, s]] }],
        (s: { pending: number }) => s.pending,
      ),
    );
    expect(await m.render()).toContain('x_pending{application="cache-aside"} 4');
    fail = true;
    const text = await m.render();
    expect(text).toContain('# TYPE x_pending gauge');
    expect(text).not.toContain('x_pending{');
  });

  it('leaves out the default metrics whose names Prometheus rejects', async () => {
    const text = await metrics().render();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toContain('nodejs_active_handles_total');
  });
});
