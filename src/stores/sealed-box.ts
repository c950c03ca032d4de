import sodium from 'libsodium-wrappers';

/**
 * GitHub's secret encryption: a libsodium sealed box (X25519 + XSalsa20-Poly1305) over the
 * UTF-8 value, for the scope's base64 public key; the result is base64 (standard alphabet).
 */
export async function sealForGithub(publicKeyBase64: string, value: string): Promise<string> {
  await sodium.ready;
  const publicKey = sodium.from_base64(publicKeyBase64, sodium.base64_variants.ORIGINAL);
  const sealed = sodium.crypto_box_seal(sodium.from_string(value), publicKey);
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}
