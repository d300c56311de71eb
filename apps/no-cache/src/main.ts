import { startPatternApp } from '@app/users';
import { NO_CACHE } from './app.module';

void startPatternApp(NO_CACHE);
