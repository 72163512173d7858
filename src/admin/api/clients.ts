// /api/v1/clients, /sessions, /subscriptions: who is connected, what sessions exist, what they subscribe to.
import type { BrokerInspector } from "../../broker/index.ts";
import { ReasonCode } from "../../codec/index.ts";
import { allSubscriptions, clientView, findClients, subscriptionView } from "../broker-view.ts";
import { notFound } from "../errors.ts";
import type { AdminRequest, Router } from "../http/router.ts";
import { boolParam, page, strParam } from "./paging.ts";

export function clientRoutes(router: Router, insp: BrokerInspector): void {
  const sessionOf = (req: AdminRequest) => {
    const s = insp.session(req.params.clientId!);
    if (s === undefined) throw notFound(`session ${JSON.stringify(req.params.clientId)}`);
    return s;
  };
  const filters = (req: AdminRequest) => ({
    prefix: strParam(req.query, "prefix"),
    username: strParam(req.query, "username"),
  });

  router.add(
    "GET",
    "/api/v1/clients",
    (req) => ({ json: page(findClients(insp, { ...filters(req), connected: true }), req.query, (v) => v) }),
    { summary: "Connected clients (paged; filters: prefix, username)" },
  );
  router.add(
    "GET",
    "/api/v1/clients/:clientId",
    (req) => {
      const s = sessionOf(req);
      const view = clientView(s, insp.connections().get(s.clientId));
      if (!view.connected) throw notFound(`connected client ${JSON.stringify(s.clientId)}`);
      return { json: view };
    },
    { summary: "One connected client" },
  );
  router.add(
    "POST",
    "/api/v1/clients/:clientId/disconnect",
    (req) => {
      const s = sessionOf(req);
      // 5.0 clients get DISCONNECT 0x98 Administrative action; 3.x clients are closed. The session stays.
      if (!insp.disconnect(s.clientId, ReasonCode.AdministrativeAction)) {
        throw notFound(`connected client ${JSON.stringify(s.clientId)}`);
      }
      return { json: { clientId: s.clientId, disconnected: true } };
    },
    { summary: "Disconnect a client (5.0: DISCONNECT 0x98); its session stays" },
  );
  router.add(
    "GET",
    "/api/v1/clients/:clientId/subscriptions",
    (req) => {
      const s = sessionOf(req);
      return { json: page([...s.subscriptions.values()], req.query, (sub) => subscriptionView(s.clientId, sub)) };
    },
    { summary: "Subscriptions of one session (paged)" },
  );
  router.add(
    "GET",
    "/api/v1/sessions",
    (req) => ({
      json: page(
        findClients(insp, { ...filters(req), connected: boolParam(req.query, "connected") }),
        req.query,
        (v) => v,
      ),
    }),
    { summary: "Sessions, connected and offline (paged; filters: prefix, username, connected)" },
  );
  router.add(
    "GET",
    "/api/v1/sessions/:clientId",
    (req) => {
      const s = sessionOf(req);
      return {
        json: {
          ...clientView(s, insp.connections().get(s.clientId)),
          subscriptionList: [...s.subscriptions.values()].map((sub) => subscriptionView(s.clientId, sub)),
        },
      };
    },
    { summary: "One session with its subscriptions" },
  );
  router.add(
    "DELETE",
    "/api/v1/sessions/:clientId",
    (req) => {
      const s = sessionOf(req);
      insp.endSession(s.clientId, ReasonCode.AdministrativeAction);
      return { json: { clientId: s.clientId, deleted: true } };
    },
    { summary: "End a session (disconnecting its client first): subscriptions and queued messages are gone" },
  );
  router.add(
    "GET",
    "/api/v1/subscriptions",
    (req) => ({ json: page(allSubscriptions(insp, strParam(req.query, "filterPrefix")), req.query, (v) => v) }),
    { summary: "Every subscription (paged; filter: filterPrefix)" },
  );
}
