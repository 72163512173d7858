// /api/v1/retained: list by topic filter, get and delete one (the topic is one URL-encoded path segment:
// `/api/v1/retained/sensors%2Fkitchen%2Ftemp`).
import type { BrokerInspector } from "../../broker/index.ts";
import { TopicError, validateTopicFilter } from "../../topics/index.ts";
import { findRetained, retainedView } from "../broker-view.ts";
import { badRequest, notFound } from "../errors.ts";
import type { Router } from "../http/router.ts";
import { page } from "./paging.ts";

export function retainedRoutes(router: Router, insp: BrokerInspector): void {
  router.add(
    "GET",
    "/api/v1/retained",
    (req) => {
      const filter = req.query.get("filter") ?? "#";
      try {
        validateTopicFilter(filter);
      } catch (err) {
        if (err instanceof TopicError)
          throw badRequest(`invalid topic filter ${JSON.stringify(filter)}: ${err.message}`);
        throw err;
      }
      return { json: page(findRetained(insp, filter), req.query, retainedView) };
    },
    { summary: "Retained messages matching ?filter= (default #; $-topics need an explicit $ filter), paged" },
  );
  router.add(
    "GET",
    "/api/v1/retained/:topic",
    (req) => {
      const msg = insp.retained.get(req.params.topic!);
      if (msg === undefined) throw notFound(`retained message on ${JSON.stringify(req.params.topic)}`);
      return { json: retainedView(msg) };
    },
    { summary: "The retained message of one topic" },
  );
  router.add(
    "DELETE",
    "/api/v1/retained/:topic",
    (req) => {
      // The store's delete persists through the storage layer when one is configured (retained-persist.ts).
      if (!insp.retained.delete(req.params.topic!)) {
        throw notFound(`retained message on ${JSON.stringify(req.params.topic)}`);
      }
      return { json: { topic: req.params.topic, deleted: true } };
    },
    { summary: "Delete the retained message of one topic" },
  );
}
