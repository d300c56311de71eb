import { startApp } from '@app/shell';
import { CACHE_ASIDE } from './app.module';

void startApp(CACHE_ASIDE);
