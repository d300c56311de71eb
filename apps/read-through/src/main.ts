import { startPatternApp } from '@app/users';
import { READ_THROUGH } from './app.module';

void startPatternApp(READ_THROUGH);
