export { verifyApiTokens } from './verify-api-tokens';
