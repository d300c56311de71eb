import { AppMetrics, type HeaderWriter } from '@app/common';
import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';

@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: AppMetrics) {}

  /** Prometheus text exposition: the same counters as `GET /stats`, request histograms, process metrics. */
  @Get()
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4', schema: { type: 'string' } })
  async get(@Res({ passthrough: true }) response: HeaderWriter): Promise<string> {
    const text = await this.metrics.render();
    response.header('Content-Type', this.metrics.contentType);
    return text;
  }
}
