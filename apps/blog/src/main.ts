import { startApp } from '@app/shell';
import { BLOG } from './app.module';

void startApp(BLOG);
