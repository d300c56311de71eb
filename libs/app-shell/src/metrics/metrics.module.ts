import { AppMetrics } from '@app/common';
import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';

/** The app's Prometheus registry, global so domains register their own metrics on it; `GET /metrics`. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [AppMetrics],
  exports: [AppMetrics],
})
export class MetricsModule {}
