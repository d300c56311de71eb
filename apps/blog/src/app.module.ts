import { BlogAppModule } from '@app/blog';
import type { AppConfig } from '@app/common';
import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return BlogAppModule.forRoot(config);
  }
}
