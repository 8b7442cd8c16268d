export const PRODUCT_VERSION = '0.1.0';
export const PRODUCT_USER_AGENT = `promvault/${PRODUCT_VERSION}`;
