import { DashboardModule } from '@app/dashboard';
import { type AppDefinition, MetricsModule } from '@app/shell';
import { Module } from '@nestjs/common';

@Module({ imports: [DashboardModule, MetricsModule] })
export class AppModule {}

export const DASHBOARD: AppDefinition = {
  name: 'dashboard',
  defaultPort: 8080,
  module: AppModule,
  description:
    'The five caching patterns side by side, live: their counters, health, a load button and the last bench.',
};
