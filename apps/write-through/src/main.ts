import { startPatternApp } from '@app/users';
import { WRITE_THROUGH } from './app.module';

void startPatternApp(WRITE_THROUGH);
