/** The route modules of the `/v1` API, in the order they are registered. One line per module. */
import type { RouteModule } from '../api.js';
import { adminUserRoutes } from './admin-users.js';
import { authRoutes } from './auth.js';

export const API_ROUTES: readonly RouteModule[] = [authRoutes, adminUserRoutes];
