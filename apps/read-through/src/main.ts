import { startApp } from '@app/shell';
import { READ_THROUGH } from './app.module';

void startApp(READ_THROUGH);
