import { AdminTokenGuard, ConflictError, HttpConfig, NotFoundError } from '@app/common';
import {
  BadGatewayException,
  Controller,
  Get,
  Header,
  HttpCode,
  type MessageEvent,
  Param,
  Post,
  Res,
  Sse,
  StreamableFile,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeEndpoint, ApiTags } from '@nestjs/swagger';
import { interval, map, type Observable, startWith } from 'rxjs';
import { AppMonitor, type DashboardState } from './app-monitor';
import { BenchResults } from './bench-results';
import { type Asset, loadAssets } from './dashboard-assets';
import type { HeaderWriter } from '@app/common';

/** How long the dashboard waits for an app's `POST /cache/clear`. */
const CLEAR_TIMEOUT_MS = 5_000;

@ApiTags('dashboard')
@Controller()
export class DashboardController {
  private readonly assets = loadAssets();

  constructor(
    private readonly monitor: AppMonitor,
    private readonly bench: BenchResults,
    private readonly http: HttpConfig,
  ) {}

  @Get()
  @ApiExcludeEndpoint()
  page(@Res({ passthrough: true }) response: HeaderWriter): StreamableFile {
    return this.asset('index.html', response);
  }

  @Get('assets/:file')
  @ApiExcludeEndpoint()
  file(@Param('file') file: string, @Res({ passthrough: true }) response: HeaderWriter): StreamableFile {
    if (file === 'index.html' || !this.assets.has(file)) throw new NotFoundError(`No asset ${file}`);
    return this.asset(file, response);
  }

  /** Every panel now: status, rates, latencies, write-behind lag, refresh-ahead hot set, the load running. */
  @Get('api/state')
  @Header('Cache-Control', 'no-store')
  state(): DashboardState {
    return this.monitor.state();
  }

  /** The same state once a second, as server-sent events. */
  @Sse('api/events')
  events(): Observable<MessageEvent> {
    return interval(1_000).pipe(
      startWith(0),
      map(() => ({ data: this.monitor.state() })),
    );
  }

  /** The last `npm run bench` results. */
  @Get('api/bench')
  benchResults(): ReturnType<BenchResults['read']> {
    return this.bench.read();
  }

  /** Starts 10 s of Zipf reads with 5 % writes against one app; 409 while one runs there. */
  @Post('api/apps/:name/load')
  @HttpCode(202)
  @ApiBearerAuth()
  @UseGuards(AdminTokenGuard)
  startLoad(@Param('name') name: string): { started: true } {
    const panel = this.panel(name);
    if (!panel.load.start()) throw new ConflictError(`A load is already running against ${name}`);
    return { started: true };
  }

  /** Empties one app's cache through its own `POST /cache/clear`, so the next reads are misses. */
  @Post('api/apps/:name/cache/clear')
  @HttpCode(204)
  @ApiBearerAuth()
  @UseGuards(AdminTokenGuard)
  async clearCache(@Param('name') name: string): Promise<void> {
    const panel = this.panel(name);
    if (!panel.state.canClear) {
      throw new ConflictError(`${name} holds changes PostgreSQL does not have yet: its cache cannot be cleared`);
    }
    let response: Response;
    try {
      response = await fetch(`${panel.state.url}/cache/clear`, {
        method: 'POST',
        headers: this.http.adminToken === undefined ? {} : { authorization: `Bearer ${this.http.adminToken}` },
        signal: AbortSignal.timeout(CLEAR_TIMEOUT_MS),
      });
    } catch {
      throw new BadGatewayException(`${name} did not answer POST /cache/clear`);
    }
    if (response.status !== 204)
      throw new BadGatewayException(`${name} answered POST /cache/clear with ${response.status}`);
  }

  private panel(name: string): NonNullable<ReturnType<AppMonitor['panel']>> {
    const panel = this.monitor.panel(name);
    if (panel === undefined) throw new NotFoundError(`No app ${name} on this dashboard`);
    return panel;
  }

  private asset(name: string, response: HeaderWriter): StreamableFile {
    const asset = this.assets.get(name) as Asset;
    response.header('Cache-Control', 'no-cache');
    return new StreamableFile(asset.body, { type: asset.type, length: asset.body.length });
  }
}
