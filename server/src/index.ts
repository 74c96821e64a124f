export { TherapyChatServer, WS_PATH, type ServerOverrides } from './server.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { createLogger } from './logger.js';
