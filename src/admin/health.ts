// GET /healthz (the process answers) and GET /readyz (it can serve: storage open, every listener bound, not
// shutting down). Unauthenticated by design (load balancers and kubelets call them), so they say nothing
// sensitive: check names and short reasons only.
import type { Router } from "./http/router.ts";

export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Why not, when not ok. */
  readonly reason?: string;
}

export function healthRoutes(router: Router, readiness: () => readonly ReadinessCheck[]): void {
  router.add("GET", "/healthz", () => ({ json: { status: "ok" } }), { auth: false, summary: "Liveness" });
  router.add(
    "GET",
    "/readyz",
    () => {
      const checks = readiness();
      const ready = checks.every((c) => c.ok);
      return { status: ready ? 200 : 503, json: { status: ready ? "ready" : "not ready", checks } };
    },
    { auth: false, summary: "Readiness: storage open, listeners bound, not shutting down" },
  );
}
