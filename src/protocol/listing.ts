/**
 * The listing of deploy-compare-v2, run in the folder to list: every entry but what a
 * deploy never transfers, one NUL-ended record each (see deployCompare). "$@" holds one
 * `-o -path ./<shared>` per shared path. The client lists its source with the same text
 * (listSource), so the two listings cannot drift apart.
 */
export const LISTING_FIND = `find . \\( -name .git -o -name '*.pyc' -o -name __pycache__ -o -type d \\( -name logs -o -name tmp \\) -o -path ./.env.local "$@" \\) -prune -o -type d -printf 'd %m %P\\0' -o -type l -printf 'l %P\\n%l\\0' -o -printf '%y %m %s %T@ %P\\0'`;
