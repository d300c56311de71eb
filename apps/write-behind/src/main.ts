import { startApp } from '@app/shell';
import { WRITE_BEHIND } from './app.module';

void startApp(WRITE_BEHIND);
