import { startApp } from '@app/shell';
import { REFRESH_AHEAD } from './app.module';

void startApp(REFRESH_AHEAD);
