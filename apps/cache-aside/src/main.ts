import { startPatternApp } from '@app/users';
import { CACHE_ASIDE } from './app.module';

void startPatternApp(CACHE_ASIDE);
