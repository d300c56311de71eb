export * from './dashboard.module';
export * from './app-monitor';
export * from './load-runner';
