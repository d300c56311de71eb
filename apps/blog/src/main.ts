import { startBlogApp } from '@app/blog';

void startBlogApp();
