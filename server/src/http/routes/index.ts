/** The route modules of the `/v1` API, in the order they are registered. One line per module. */
import type { RouteModule } from '../api.js';
import { adminCaseRoutes } from './admin-cases.js';
import { appointmentRoutes } from './appointments.js';
import { breakGlassRoutes } from './break-glass.js';

export const API_ROUTES: readonly RouteModule[] = [adminCaseRoutes, breakGlassRoutes, appointmentRoutes];
