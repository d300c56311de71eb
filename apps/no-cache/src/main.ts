import { startApp } from '@app/shell';
import { NO_CACHE } from './app.module';

void startApp(NO_CACHE);
