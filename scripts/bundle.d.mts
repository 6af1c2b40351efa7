export declare const REQUIRE_BANNER: string;
export declare function bundleTill(entry: string, outfile: string, define: Record<string, string>): Promise<void>;
export declare function bundleCli(entry: string, outdir: string, define: Record<string, string>): Promise<void>;
export declare const BUNDLE_BUDGET_KIB: number;
export declare function overBudget(bytes: number, budgetKib?: number): string | undefined;
