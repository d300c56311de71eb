import { startApp } from '@app/shell';
import { WRITE_THROUGH } from './app.module';

void startApp(WRITE_THROUGH);
