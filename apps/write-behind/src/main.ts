import { startPatternApp } from '@app/users';
import { WRITE_BEHIND } from './app.module';

void startPatternApp(WRITE_BEHIND);
