import { AdminTokenGuard } from '@app/common';
import { Module } from '@nestjs/common';
import { AppMonitor } from './app-monitor';
import { BenchResults } from './bench-results';
import { DashboardController } from './dashboard.controller';

/** The live dashboard: one page showing every pattern app side by side, fed by polling their `/stats` and `/health`. */
@Module({
  controllers: [DashboardController],
  providers: [AppMonitor, BenchResults, AdminTokenGuard],
})
export class DashboardModule {}
