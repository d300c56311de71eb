import { startApp } from '@app/shell';
import { DASHBOARD } from './app.module';

void startApp(DASHBOARD);
