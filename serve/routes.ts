/**
 * The scoring routes, each with a JSON schema for its params and body. Bad input is a 4xx naming the field
 * (schema errors by their path, semantic errors by `field`); a handler never lets bad input reach a 500.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PipelineDefinition } from '../pipelines/schema';
import type { StateHolder, Snapshot } from './holder';
import type { RecentEvent } from './online';
import { reasonsJson, reasonsOf, type ServingState } from './state';

/** A request error with its HTTP status and the field it is about. */
export class BadRequest extends Error {
  constructor(
    readonly statusCode: number,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Recent events may be a little ahead of this server's clock (client clocks drift). */
const CLOCK_SKEW_MS = 5 * 60_000;
export const MAX_EVENTS = 1000;

const idParam = { type: 'string', minLength: 1, maxLength: 256 } as const;

const scoreBody = {
  type: 'object',
  additionalProperties: false,
  required: ['userId'],
  properties: {
    userId: idParam,
    asOf: { type: 'string', maxLength: 64 },
    events: {
      type: 'array',
      maxItems: MAX_EVENTS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ts', 'event'],
        properties: {
          ts: { type: 'string', maxLength: 64 },
          event: { type: 'string', minLength: 1, maxLength: 128 },
          itemId: { type: ['string', 'null'], maxLength: 256 },
          revenue: { type: ['number', 'null'] },
          sessionId: { type: ['string', 'null'], maxLength: 256 },
        },
      },
    },
  },
} as const;

interface ScoreBody {
  userId: string;
  asOf?: string;
  events?: { ts: string; event: string; itemId?: string | null; revenue?: number | null; sessionId?: string | null }[];
}

function time(value: string, field: string): number {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t))
    throw new BadRequest(
      400,
      field,
      `${field}: "${value.slice(0, 64)}" is not an ISO 8601 time (e.g. 2024-05-01T12:00:00Z)`,
    );
  return t;
}

/** Checks a POST body against the snapshot's cutoff, the clock and the pipeline's event types. */
export function recentEvents(body: ScoreBody, cutoff: string, knownEvents: Set<string>, now: number) {
  const cut = Date.parse(cutoff);
  const asOf = body.asOf !== undefined ? time(body.asOf, 'asOf') : Math.ceil((now + 1) / 1000) * 1000;
  if (asOf > now + CLOCK_SKEW_MS) throw new BadRequest(400, 'asOf', `asOf: ${body.asOf} is in the future`);
  if (asOf <= cut) throw new BadRequest(400, 'asOf', `asOf: must be after the serving cutoff ${cutoff}`);
  const events: RecentEvent[] = (body.events ?? []).map((e, i) => {
    const field = `events[${i}]`;
    if (!knownEvents.has(e.event))
      throw new BadRequest(
        400,
        `${field}.event`,
        `${field}.event: unknown event type "${e.event.slice(0, 64)}" (known: ${[...knownEvents].join(', ')})`,
      );
    const ts = time(e.ts, `${field}.ts`);
    if (ts > now + CLOCK_SKEW_MS) throw new BadRequest(400, `${field}.ts`, `${field}.ts: ${e.ts} is in the future`);
    if (ts < cut)
      throw new BadRequest(
        400,
        `${field}.ts`,
        `${field}.ts: ${e.ts} is before the serving cutoff ${cutoff} (events before it are already in the warehouse)`,
      );
    if (ts >= asOf) throw new BadRequest(400, `${field}.ts`, `${field}.ts: ${e.ts} is not before asOf`);
    return { ts, event: e.event, itemId: e.itemId ?? null, revenue: e.revenue ?? null, sessionId: e.sessionId ?? null };
  });
  return { asOf, events };
}

const num = (x: number) => (Number.isNaN(x) ? 'null' : String(x));

/** GET …/score's body: the user's row from the snapshot's arrays and the snapshot's prebuilt constant tail. */
export function userScoreJson(st: ServingState, id: string, i: number): string {
  const u = st.users;
  return (
    `{"userId":${JSON.stringify(id)},"propensity":${num(u.propensity[i])},"decile":${u.decile[i] || 'null'},` +
    `"segment":${u.segment[i] < 0 ? 'null' : u.textJson[u.segment[i]]},"churnRisk":${num(u.churn[i])},` +
    `"clv":${num(u.clv[i])},"reasons":${reasonsJson(u, i)}${st.scoreTail}`
  );
}

export function registerScoreRoutes(app: FastifyInstance, holder: StateHolder, def: PipelineDefinition) {
  // The event types a request may send: the source's declared list, else the ones the model has features for.
  const declared = def.sources.events.eventTypes;
  // Every route answers from one snapshot taken when the request started (released when the response is sent).
  const withSnapshot = async <T>(reply: FastifyReply, fn: (s: Snapshot) => Promise<T> | T): Promise<T | undefined> => {
    const s = holder.acquire();
    if (!s) {
      await reply.code(503).send({ error: 'not_ready', message: holder.notReadyReason });
      return undefined;
    }
    try {
      return await fn(s);
    } finally {
      holder.release(s);
    }
  };

  // A map lookup and a body assembled from the snapshot's prebuilt parts (no serializer, no await): the GET is
  // the hot path, and it reads only immutable arrays, so it needs no reference on the snapshot.
  app.get<{ Params: { id: string } }>(
    '/v1/users/:id/score',
    { schema: { params: { type: 'object', required: ['id'], properties: { id: idParam } } } },
    (req, reply) => {
      const st = holder.snapshot?.state;
      if (!st) return reply.code(503).send({ error: 'not_ready', message: holder.notReadyReason });
      const i = st.users.index.get(req.params.id);
      if (i === undefined)
        throw new BadRequest(404, 'id', `user "${req.params.id}" was not scored at the cutoff ${st.cutoff}`);
      return reply.type('application/json; charset=utf-8').send(userScoreJson(st, req.params.id, i));
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/v1/campaigns/:name/members/:id',
    {
      schema: {
        params: {
          type: 'object',
          required: ['name', 'id'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 128 }, id: idParam },
        },
      },
    },
    async (req, reply) =>
      withSnapshot(reply, (s) => {
        const st = s.state;
        const c = st.campaigns.get(req.params.name);
        if (!c)
          throw new BadRequest(
            404,
            'name',
            `no campaign "${req.params.name}" in the current lists (${[...st.campaigns.keys()].join(', ')})`,
          );
        const i = st.users.index.get(req.params.id);
        if (i === undefined)
          throw new BadRequest(404, 'id', `user "${req.params.id}" was not scored at the cutoff ${st.cutoff}`);
        const member = c.members.has(req.params.id);
        return {
          campaign: c.name,
          userId: req.params.id,
          member,
          why: member
            ? { list: c.description ?? c.name, action: c.action, reasons: reasonsOf(st.users, i) }
            : `not on the list "${c.name}" scored at ${st.cutoff}${c.description ? ` (${c.description})` : ''}`,
          modelVersion: st.version,
          cutoff: st.cutoff,
        };
      }),
  );

  app.post<{ Body: ScoreBody }>('/v1/score', { schema: { body: scoreBody } }, async (req, reply) =>
    withSnapshot(reply, async (s) => {
      const known = new Set(declared ?? s.state.online.eventTypes);
      const { asOf, events } = recentEvents(req.body, s.state.cutoff, known, Date.now());
      const r = await s.scorer.score({ userId: req.body.userId, events, asOf });
      if (!r)
        throw new BadRequest(
          404,
          'userId',
          `user "${req.body.userId}" has no events before ${new Date(asOf).toISOString()}: none in the warehouse and none in the request`,
        );
      return { ...r, cutoff: s.state.cutoff };
    }),
  );
}
