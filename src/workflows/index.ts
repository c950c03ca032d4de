export { verifyApiTokens } from './verify-api-tokens';
export { rotateServiceToken } from './rotation/rotate-service-token';
export { refreshServiceToken } from './refresh-service-token';
export { checkTokenHealth, notifyTokenHealth } from './check-token-health';
export { rotateAllServiceTokens } from './rotate-all-service-tokens';
export { sweepExpiry } from './sweep-expiry';
export { discoverCredentials } from './discover-credentials';
export { rotateApiToken } from './rotation/rotate-api-token';
export { warmUpEmergencyWorker } from './warm-up';
