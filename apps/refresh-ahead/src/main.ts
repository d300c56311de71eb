import { startPatternApp } from '@app/users';
import { REFRESH_AHEAD } from './app.module';

void startPatternApp(REFRESH_AHEAD);
