import type { DatabaseTables } from '@app/common';
import { Module } from '@nestjs/common';
import { UsersController } from './http/users.controller';
import { USER_MIGRATIONS } from './migrations';
import { UserEntity } from './user/user.entity';
import { UserStoreModule } from './user/user-store.module';
import { UsersService } from './users.service';

/** The users table, for the app shell's database. */
export const USER_TABLES: DatabaseTables = { entities: [UserEntity], migrations: USER_MIGRATIONS };

/** The users domain: `/users` over whichever `CacheStrategy` the app binds. */
@Module({
  imports: [UserStoreModule],
  controllers: [UsersController],
  providers: [UsersService],
})
export class UsersModule {}
