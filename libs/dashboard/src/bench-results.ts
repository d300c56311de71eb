import { DashboardConfig, NotFoundError } from '@app/common';
import { Injectable } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/** One row of `bench/results/results.json`, as `npm run bench` writes it. */
export interface BenchRow {
  server: string;
  adapter: string;
  workload: string;
  rps: number;
  p50: number;
  p99: number;
  hitRatio: number | null;
}

/** The last `npm run bench` results, for the page's chart. */
@Injectable()
export class BenchResults {
  constructor(private readonly config: DashboardConfig) {}

  async read(): Promise<{ date: string; machine: string; quick: boolean; results: BenchRow[] }> {
    const path = isAbsolute(this.config.benchResults)
      ? this.config.benchResults
      : join(process.cwd(), this.config.benchResults);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new NotFoundError(`No bench results at ${this.config.benchResults}: run npm run bench`);
    }
    const parsed = JSON.parse(text) as { date: string; machine: string; quick: boolean; results: BenchRow[] };
    return {
      date: parsed.date,
      machine: parsed.machine,
      quick: parsed.quick,
      results: parsed.results.map(({ server, adapter, workload, rps, p50, p99, hitRatio }) => ({
        server,
        adapter,
        workload,
        rps,
        p50,
        p99,
        hitRatio,
      })),
    };
  }
}
