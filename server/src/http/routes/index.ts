/** The route modules of the `/v1` API, in the order they are registered. One line per module. */
import type { RouteModule } from '../api.js';
import { adminCaseRoutes } from './admin-cases.js';
import { adminUserRoutes } from './admin-users.js';
import { appointmentRoutes } from './appointments.js';
import { authRoutes } from './auth.js';
import { breakGlassRoutes } from './break-glass.js';
import { patientRightsRoutes } from './patient-rights.js';
import { supervisionRoutes } from './supervision.js';

export const API_ROUTES: readonly RouteModule[] = [
  authRoutes,
  adminUserRoutes,
  adminCaseRoutes,
  breakGlassRoutes,
  appointmentRoutes,
  patientRightsRoutes,
  supervisionRoutes,
];
