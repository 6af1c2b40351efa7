declare const __TILL_VERSION__: string | undefined;

/** This till's version, injected by the bundler from package.json; "0.0.0-dev" when run from source. */
export const TILL_VERSION: string = typeof __TILL_VERSION__ === 'string' ? __TILL_VERSION__ : '0.0.0-dev';
