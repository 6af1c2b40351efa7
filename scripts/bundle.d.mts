export declare const REQUIRE_BANNER: string;
export declare function bundleTill(entry: string, outfile: string, define: Record<string, string>): Promise<void>;
