/** One token of a recorded health report, with only what `/tokens/status` reads of it. */
export const statusToken = (name: string, kind: 'account' | 'user', missingPermissions: string[] = []) => ({
  accountId: 'a'.repeat(32),
  name,
  kind,
  isValid: true,
  isActive: true,
  hasAllPermissions: missingPermissions.length === 0,
  missingPermissions,
});
