export * from './app-definition';
export * from './app-shell.module';
export * from './bootstrap/create-app';
export * from './bootstrap/start-app';
export * from './http/health.controller';
export * from './metrics/metrics.module';
