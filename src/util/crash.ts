/**
 * A test hook for crash consistency: with POI_CRASH_AT=<point> (or <point>#<n>) the process kills itself
 * with SIGKILL the first (n-th) time it reaches that named point, as `kill -9` would, with no cleanup.
 * Tests use it to check that a kill between any two writes of a run loses nothing. Without the variable
 * a point costs one lookup.
 */
const hits = new Map<string, number>();

export function crashPoint(name: string): void {
  const spec = process.env.POI_CRASH_AT;
  if (!spec) return;
  const hash = spec.lastIndexOf('#');
  const point = hash < 0 ? spec : spec.slice(0, hash);
  if (point !== name) return;
  const nth = hash < 0 ? 1 : Number(spec.slice(hash + 1));
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === nth) {
    process.stderr.write(`poi: POI_CRASH_AT=${spec}: killing this process at ${name}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
