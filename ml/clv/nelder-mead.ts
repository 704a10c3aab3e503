/**
 * Nelder–Mead simplex minimisation (Lagarias et al. 1998 coefficients), used to fit the CLV models by maximum
 * likelihood on log-parameters, as `lifetimes` does with scipy's Nelder–Mead. Written here because the JavaScript
 * options do not fit: `fmin` 0.0.4 ships an ES-module-flagged UMD bundle that CommonJS cannot require, and
 * `optimization-js` offers only Powell / numeric-gradient L-BFGS and is unmaintained. Deterministic: no randomness.
 */
export interface MinimizeResult {
  x: number[];
  fx: number;
  iterations: number;
  converged: boolean;
}

export interface NelderMeadOptions {
  maxIterations?: number;
  /** Stop when the simplex's f values and its coordinates both differ by less than this. */
  tolerance?: number;
  /** Initial step per coordinate. */
  step?: number;
}

export function nelderMead(f: (x: number[]) => number, x0: number[], o: NelderMeadOptions = {}): MinimizeResult {
  const n = x0.length;
  const maxIterations = o.maxIterations ?? 400 * n;
  const tol = o.tolerance ?? 1e-10;
  const step = o.step ?? 0.5;
  const value = (x: number[]) => {
    const v = f(x);
    return Number.isFinite(v) ? v : Infinity;
  };
  let simplex = [x0.slice(), ...x0.map((_, i) => x0.map((v, j) => (i === j ? v + step : v)))].map((x) => ({
    x,
    fx: value(x),
  }));
  const along = (c: number[], d: number[], t: number) => c.map((ci, j) => ci + t * (d[j] - ci));
  for (let it = 0; it < maxIterations; it++) {
    simplex.sort((p, q) => p.fx - q.fx);
    const best = simplex[0];
    const worst = simplex[n];
    const spread = Math.max(...simplex.map((p) => Math.max(...p.x.map((v, j) => Math.abs(v - best.x[j])))));
    if (Math.abs(worst.fx - best.fx) <= tol && spread <= Math.sqrt(tol)) {
      return { x: best.x, fx: best.fx, iterations: it, converged: true };
    }
    const centroid = best.x.map((_, j) => simplex.slice(0, n).reduce((s, p) => s + p.x[j], 0) / n);
    const reflected = along(centroid, worst.x, -1);
    const fr = value(reflected);
    if (fr < best.fx) {
      const expanded = along(centroid, worst.x, -2);
      const fe = value(expanded);
      simplex[n] = fe < fr ? { x: expanded, fx: fe } : { x: reflected, fx: fr };
      continue;
    }
    if (fr < simplex[n - 1].fx) {
      simplex[n] = { x: reflected, fx: fr };
      continue;
    }
    const outside = fr < worst.fx;
    const contracted = along(centroid, worst.x, outside ? -0.5 : 0.5);
    const fc = value(contracted);
    if (fc < (outside ? fr : worst.fx)) {
      simplex[n] = { x: contracted, fx: fc };
      continue;
    }
    simplex = simplex.map((p, i) => {
      if (i === 0) return p;
      const x = along(best.x, p.x, 0.5);
      return { x, fx: value(x) };
    });
  }
  simplex.sort((p, q) => p.fx - q.fx);
  return { x: simplex[0].x, fx: simplex[0].fx, iterations: maxIterations, converged: false };
}

/**
 * Nelder–Mead restarted from its own optimum until two restarts agree: a simplex can collapse early on a long
 * curved valley (the BG/NBD likelihood has one along r/α), and restarting is the standard cure.
 */
export function minimize(f: (x: number[]) => number, x0: number[], o: NelderMeadOptions = {}): MinimizeResult {
  let result = nelderMead(f, x0, o);
  let iterations = result.iterations;
  for (let restart = 0; restart < 10; restart++) {
    const next = nelderMead(f, result.x, { ...o, step: 0.05 });
    iterations += next.iterations;
    const settled = Math.abs(next.fx - result.fx) <= (o.tolerance ?? 1e-10) * 10;
    result = next.fx <= result.fx ? next : result;
    if (settled && next.converged) return { ...result, iterations, converged: true };
  }
  return { ...result, iterations, converged: false };
}
