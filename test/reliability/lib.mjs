// Shared machinery of the reliability tests: a seeded generator of Vapi-shaped
// calls, "worlds" (fresh orgs that receive one copy of those calls, with the
// same Vapi call ids in every world), delivery through vox.handle_event, and a
// normalised snapshot of every vox table a world's events touch, so that two
// worlds fed the same events in different ways can be compared.
import { randomUUID } from 'node:crypto';

import pg from 'pg';

// run.sh sets these; the defaults are a scratch cluster.
export const env = {
  host: process.env.PGHOST ?? '/tmp/rel-c/dev',
  port: Number(process.env.PGPORT ?? 57200),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'vox_reliability',
  seed: process.env.VOX_SEED ? Number(process.env.VOX_SEED) : Math.floor(Math.random() * 2 ** 31),
  permutations: Number(process.env.VOX_PERMUTATIONS ?? 1000),
  jobs: Number(process.env.VOX_RELIABILITY_JOBS ?? 2),
  // On a Citus cluster (the citus suite): each world's org B on another
  // worker than its org A.
  splitOrgs: process.env.VOX_SPLIT_ORGS === '1',
};

export async function connect() {
  const client = new pg.Client({ host: env.host, port: env.port, user: env.user, database: env.database });
  await client.connect();
  // Durability is not under test; commit waits would only slow the runs.
  await client.query('SET synchronous_commit = off');
  return client;
}

// ------------------------------------------------------------- randomness ---

// mulberry32: small, seedable, good enough to shuffle.
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
  };
}

export function shuffle(list, rng) {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// A permutation of items where some deliveries come again (a Vapi retry is
// the same delivery: same body, same delivery id). Registering an agent is
// an admin's insert, done once.
export function permuteWithDuplicates(items, rng) {
  const deliveries = [];
  for (const item of items) {
    deliveries.push(item);
    if (item.kind === 'agent') continue;
    while (rng.chance(0.3)) deliveries.push(item);
  }
  return shuffle(deliveries, rng);
}

// ------------------------------------------------------------------ worlds ---

// The same Vapi call ids in every world: worlds differ only by their orgs,
// agents, leads, assistant and phone number ids, which are all masked in
// snapshots.
const CALL_IN = 'call_rel_in';
const CALL_LATE = 'call_rel_late';
const CALL_OUT = 'call_rel_out';
const CALL_GHOST = 'call_rel_ghost';
const VAPI_ORG = '6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b';
const T0 = Date.UTC(2025, 10, 21, 16, 0, 0);
const iso = (ms) => new Date(ms).toISOString();

let worldCount = 0;
const runTag = Math.random().toString(36).slice(2, 8);

// Fresh orgs and routing records for one copy of the calls: org A (inbound
// and outbound agents, a phone number, leads; its night agent is registered
// later, as one of the deliveries) and org B, whose call has the same Vapi id
// as org A's inbound call.
export function newWorld() {
  const tag = `w${++worldCount}${runTag}`;
  const w = {
    tag,
    orgA: randomUUID(),
    orgB: randomUUID(),
    agentA: randomUUID(),
    agentOut: randomUUID(),
    agentLate: randomUUID(),
    agentB: randomUUID(),
    leadA: randomUUID(),
    leadOut: randomUUID(),
    leadOutOlder: randomUUID(),
    leadB: randomUUID(),
    phoneA: randomUUID(),
    phoneB: randomUUID(),
    asstA: `asst_${tag}_a`,
    asstOut: `asst_${tag}_o`,
    asstLate: `asst_${tag}_late`,
    asstB: `asst_${tag}_b`,
    asstGhost: `asst_${tag}_ghost`,
    pnA: `pn_${tag}_a`,
    pnB: `pn_${tag}_b`,
  };
  nameWorld(w);
  return w;
}

// Placeholders for everything world-specific, longest first so that no
// name is replaced inside a longer one.
function nameWorld(w) {
  w.names = Object.fromEntries(
    Object.entries(w)
      .filter(([key]) => key !== 'tag' && key !== 'names')
      .sort(([, x], [, y]) => y.length - x.length)
      .map(([key, value]) => [value, `<${key}>`]),
  );
}

const workersOfOrgs = `
SELECT count(DISTINCT p.groupid)::int AS workers
  FROM unnest($1::uuid[]) o(id)
  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('vox.call_logs', o.id)`;

export async function createWorld(client, w) {
  while (env.splitOrgs && (await client.query(workersOfOrgs, [[w.orgA, w.orgB]])).rows[0].workers !== 2) {
    w.orgB = randomUUID();
    nameWorld(w);
  }
  await client.query('SELECT vox_rel.create_world($1::jsonb)', [JSON.stringify(w)]);
}

// The calls, as a list of deliveries in the order Vapi would send them.
// Choices come from the seed alone, so every world gets the same calls.
export function callItems(seed, w) {
  const rng = prng(seed);
  const items = [];
  // signer: 'a', 'b' or null (the org whose URL and secret the request came with).
  const add = (label, kind, fields) => items.push({ label, kind, ...fields });
  const event = (label, message, signer = null) =>
    add(label, 'event', {
      payload: message.flat ? message.flat : { message },
      signer,
      // Half the deliveries carry a sender's delivery id (webhook-id).
      deliveryId: rng.chance(0.5) ? `msg_${label}` : null,
    });

  // ---- org A's inbound call, in Vapi's envelope form.
  const inReport = rng.chance(0.5);
  const callIn = (status, extra = {}) => ({
    id: CALL_IN,
    orgId: VAPI_ORG,
    createdAt: iso(T0),
    updatedAt: iso(T0 + 500),
    type: 'inboundPhoneCall',
    status,
    assistantId: w.asstA,
    phoneNumberId: w.pnA,
    phoneCallProvider: 'twilio',
    phoneCallTransport: 'pstn',
    customer: { number: '+14155550123' },
    ...extra,
  });
  // Some events name no assistant (then they come signed: with colliding
  // call ids only the signer's org can say whose call it is), some only the
  // phone number.
  const route = (call) => {
    const r = rng.int(4);
    if (r === 0) {
      const { assistantId, phoneNumberId, ...rest } = call;
      return [rest, 'a'];
    }
    if (r === 1) {
      const { assistantId, ...rest } = call;
      return [rest, rng.chance(0.5) ? 'a' : null];
    }
    return [call, rng.chance(0.5) ? 'a' : null];
  };
  add('in_assistant_request', 'event', {
    payload: {
      message: {
        type: 'assistant-request',
        timestamp: T0,
        phoneNumber: { id: w.pnA, number: '+14155550100' },
        call: callIn('ringing', { assistantId: undefined }),
      },
    },
    signer: null,
    deliveryId: null,
  });
  const startedAt = iso(T0 + 1000);
  const statuses = ['queued', 'ringing', 'in-progress'];
  if (rng.chance(0.5)) statuses.unshift('scheduled');
  if (rng.chance(0.5)) statuses.push('forwarding');
  for (const [i, status] of statuses.entries()) {
    const live = status === 'in-progress' || status === 'forwarding';
    const [call, signer] = route(callIn(status, live ? { startedAt } : {}));
    event(`in_${status}`, { type: 'status-update', status, timestamp: T0 + 200 * (i + 1), call }, signer);
  }
  event('in_not_found', { type: 'status-update', status: 'not-found', timestamp: T0 + 900, call: callIn('queued') });
  const words = [
    ['assistant', 'Thanks for calling, how can I help?'],
    ['user', 'I need to book a cleaning.'],
    ['assistant', 'Sure, which day works for you?'],
    ['user', 'Tuesday.'],
    ['user', 'Sorry, yes.'],
  ];
  const utterances = words.slice(0, 2 + rng.int(4));
  // The same words said twice, at different times: two utterances.
  utterances.push(utterances[rng.int(utterances.length)]);
  for (const [i, [role, text]] of utterances.entries()) {
    const ts = T0 + 2000 + 3000 * i;
    const [call, signer] = route(callIn('in-progress', { startedAt }));
    event(`in_partial_${i}`, {
      type: 'transcript', role, transcriptType: 'partial', transcript: text.slice(0, 5), timestamp: ts - 500, call,
    });
    // Vapi's final-only type name is the same event.
    const type = rng.chance(0.25) ? 'transcript[transcriptType="final"]' : 'transcript';
    event(`in_final_${i}`, { type, role, transcriptType: 'final', transcript: text, timestamp: ts, call }, signer);
  }
  for (const type of ['speech-update', 'conversation-update', 'hang', 'workflow.future-type']) {
    event(`in_${type}`, { type, timestamp: T0 + 5000, status: 'started', role: 'user', call: callIn('in-progress') });
  }
  const endedAt = iso(T0 + 210_500);
  {
    const [call, signer] = route(callIn('ended', { startedAt, endedAt }));
    event(
      'in_ended',
      { type: 'status-update', status: 'ended', endedReason: 'customer-ended-call', timestamp: T0 + 210_600, call },
      signer,
    );
  }
  if (inReport) {
    const [call, signer] = route(callIn('ended', { startedAt, endedAt }));
    // The report's own times and reason take precedence over the status
    // updates', whichever comes first.
    event(
      'in_report',
      {
        type: 'end-of-call-report',
        timestamp: T0 + 212_000,
        endedReason: 'assistant-ended-call',
        cost: 0.1234,
        startedAt: iso(T0 + 1100),
        endedAt: iso(T0 + 211_000),
        artifact: {
          transcript: 'AI: Thanks for calling. User: I need to book a cleaning.',
          recording: { mono: { combinedUrl: `https://storage.vapi.ai/${CALL_IN}-mono.wav` } },
        },
        analysis: { summary: 'Caller booked a cleaning for Tuesday.', successEvaluation: 'true' },
        call,
      },
      signer,
    );
  }

  // ---- org A's call answered by an agent registered only later: its events
  // park until the agent is inserted. The caller id is not a number.
  const callLate = (status, extra = {}) => ({
    id: CALL_LATE,
    orgId: VAPI_ORG,
    createdAt: iso(T0),
    updatedAt: iso(T0 + 100),
    type: 'inboundPhoneCall',
    status,
    assistantId: w.asstLate,
    customer: { number: 'anonymous' },
    ...extra,
  });
  const lateEvents = [
    () => event('late_ringing', { type: 'status-update', status: 'ringing', timestamp: T0 + 300, call: callLate('ringing') }),
    () =>
      event('late_in_progress', {
        type: 'status-update', status: 'in-progress', timestamp: T0 + 800, call: callLate('in-progress', { startedAt }),
      }),
    () =>
      event('late_final', {
        type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'Hello? Anyone there?',
        timestamp: T0 + 4000, call: callLate('in-progress', { startedAt }),
      }),
    () =>
      event(
        'late_ended',
        {
          type: 'status-update', status: 'ended', timestamp: T0 + 60_000,
          call: callLate('ended', { startedAt, endedAt: iso(T0 + 59_000), endedReason: 'silence-timed-out' }),
        },
        rng.chance(0.5) ? 'a' : null,
      ),
  ];
  const agentAt = rng.int(lateEvents.length + 1);
  for (const [i, make] of lateEvents.entries()) {
    if (i === agentAt) add('late_agent', 'agent', {});
    make();
  }
  if (agentAt === lateEvents.length) add('late_agent', 'agent', {});

  // ---- org A's outbound call, registered by the app before or after its
  // first events. The registration's agent and lead win over the assistant's
  // and the oldest lead with the callee's number.
  const outAssistant = rng.chance(0.5) ? w.asstOut : w.asstA;
  const callOut = (status, extra = {}) => ({
    id: CALL_OUT,
    orgId: VAPI_ORG,
    createdAt: iso(T0),
    updatedAt: iso(T0 + 100),
    type: 'outboundPhoneCall',
    status,
    assistantId: outAssistant,
    phoneNumberId: w.pnA,
    customer: { number: '+14155550177' },
    ...extra,
  });
  const outEvents = [
    () => {
      const [call, signer] = route(callOut('ringing'));
      event('out_ringing', { type: 'status-update', status: 'ringing', timestamp: T0 + 400, call }, signer);
    },
    () => {
      const [call, signer] = route(callOut('in-progress', { startedAt }));
      event('out_in_progress', { type: 'status-update', status: 'in-progress', timestamp: T0 + 1000, call }, signer);
    },
    () => {
      const [call, signer] = route(callOut('in-progress', { startedAt }));
      event('out_final', {
        type: 'transcript', role: 'assistant', transcriptType: 'final', transcript: 'Hi, this is the clinic calling.',
        timestamp: T0 + 3000, call,
      }, signer);
    },
    () => {
      const [call, signer] = route(callOut('ended', { startedAt, endedAt: iso(T0 + 90_000) }));
      event('out_ended', {
        type: 'status-update', status: 'ended', endedReason: 'customer-did-not-answer', timestamp: T0 + 90_100, call,
      }, signer);
    },
  ];
  const registerAt = rng.int(outEvents.length + 1);
  const registration = {
    orgId: w.orgA,
    callId: CALL_OUT,
    agentId: w.agentOut,
    leadId: w.leadOut,
    metadata: { is_test_call: rng.chance(0.5), campaign: 'recall' },
  };
  for (const [i, make] of outEvents.entries()) {
    if (i === registerAt) add('out_register', 'register', { registration });
    make();
  }
  if (registerAt === outEvents.length) add('out_register', 'register', { registration });

  // ---- org B's call, in the seeds' flat form, with org A's inbound call id.
  const flatCall = (status, extra = {}) => ({
    id: CALL_IN,
    type: 'inboundPhoneCall',
    status,
    assistantId: w.asstB,
    customer: { number: '(415) 555-0123' },
    ...extra,
  });
  const signerB = () => (rng.chance(0.5) ? 'b' : null);
  event('b_started', { flat: { type: 'call.started', timestamp: T0 + 1000, call: flatCall('in-progress', { startedAt }) } }, signerB());
  event('b_said_assistant', {
    flat: { type: 'call.transcribed', speaker: 'assistant', transcript: 'Clinic B, good afternoon.', timestamp: T0 + 2000, call: flatCall('in-progress') },
  }, signerB());
  event('b_said_user', {
    flat: { type: 'call.transcribed', role: 'user', transcript: 'Hi, it is Pat.', timestamp: T0 + 3500, call: flatCall('in-progress') },
  }, signerB());
  event('b_ended', {
    flat: {
      type: 'call.ended', endedReason: 'customer-ended-call', timestamp: T0 + 70_000,
      call: flatCall('ended', { startedAt, endedAt: iso(T0 + 69_000), duration: 999 }),
    },
  }, signerB());
  event('b_report', {
    flat: {
      type: 'end-of-call-report', endedReason: 'customer-ended-call', cost: 0.05, timestamp: T0 + 71_000,
      summary: 'Pat asked for a callback.', transcript: 'AI: Clinic B. User: Hi, it is Pat.',
      recordingUrl: `https://storage.vapi.ai/${CALL_IN}-b.wav`, call: flatCall('ended'),
    },
  }, signerB());

  // ---- an assistant nobody registers: parked for good, never lost.
  event('ghost_ringing', {
    type: 'status-update', status: 'ringing', timestamp: T0 + 300,
    call: { id: CALL_GHOST, orgId: VAPI_ORG, type: 'inboundPhoneCall', status: 'ringing', assistantId: w.asstGhost },
  }, rng.chance(0.5) ? 'a' : null);
  return items;
}

// Delivers one item; returns handle_event's result (or the registration's).
export async function deliver(client, w, item) {
  switch (item.kind) {
    case 'event': {
      const signer = item.signer === 'a' ? w.orgA : item.signer === 'b' ? w.orgB : null;
      const { rows } = await client.query('SELECT vox.handle_event($1::uuid, $2::jsonb, $3::text) AS r', [
        signer,
        JSON.stringify(item.payload),
        item.deliveryId,
      ]);
      return rows[0].r;
    }
    case 'agent':
      await client.query(
        "INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role) VALUES ($1, $2, $3, 'Night shift', 'night')",
        [w.orgA, w.agentLate, w.asstLate],
      );
      return { status: 'agent' };
    case 'register': {
      const r = item.registration;
      const { rows } = await client.query('SELECT vox.register_outbound_call($1, $2, $3, $4, $5::jsonb) AS r', [
        r.orgId, r.callId, r.agentId, r.leadId, JSON.stringify(r.metadata),
      ]);
      return rows[0].r;
    }
    default:
      throw new Error(`unknown item kind ${item.kind}`);
  }
}

// As the shim does (README, "A webhook, step by step"): a deadlock or
// serialization failure rolled the delivery back and is retried a few times.
// stats.retries counts them, by SQLSTATE.
const retryable = new Set(['40001', '40P01']);
export async function deliverRetrying(client, w, item, stats) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await deliver(client, w, item);
    } catch (error) {
      if (!retryable.has(error.code) || attempt > 5) throw error;
      stats.retries[error.code] = (stats.retries[error.code] ?? 0) + 1;
    }
  }
}

// The SQL text of one delivery with no parameters, for the storms' barrier
// (a multi-statement simple query cannot take parameters).
export function deliverySql(client, w, item) {
  const lit = (v) => (v === null || v === undefined ? 'NULL' : client.escapeLiteral(String(v)));
  switch (item.kind) {
    case 'event': {
      const signer = item.signer === 'a' ? w.orgA : item.signer === 'b' ? w.orgB : null;
      return `SELECT vox.handle_event(${lit(signer)}::uuid, ${lit(JSON.stringify(item.payload))}::jsonb, ${lit(item.deliveryId)}::text) AS r`;
    }
    case 'register': {
      const r = item.registration;
      return `SELECT vox.register_outbound_call(${lit(r.orgId)}, ${lit(r.callId)}, ${lit(r.agentId)}, ${lit(r.leadId)}, ${lit(JSON.stringify(r.metadata))}::jsonb) AS r`;
    }
    case 'agent':
      return `INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role) VALUES (${lit(w.orgA)}, ${lit(w.agentLate)}, ${lit(w.asstLate)}, 'Night shift', 'night')`;
    default:
      throw new Error(`unknown item kind ${item.kind}`);
  }
}

// The world's rows in every vox table, masked and sorted (vox_rel.snapshot).
// strictOutbox: compare the outbox row by row, in order; otherwise only what
// every order of delivery must agree on (see the SQL).
export async function snapshot(client, w, strictOutbox) {
  const { rows } = await client.query('SELECT vox_rel.snapshot($1::uuid[], $2, $3::jsonb, $4) AS s', [
    [w.orgA, w.orgB],
    w.tag,
    JSON.stringify(w.names),
    strictOutbox,
  ]);
  return rows[0].s;
}

// Tables and the rows in which two snapshots differ, for a readable failure.
export function differences(expected, actual) {
  const out = [];
  for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const e = JSON.stringify(expected[table]);
    const a = JSON.stringify(actual[table]);
    if (e === a) continue;
    const es = new Set((expected[table] ?? []).map((r) => JSON.stringify(r)));
    const as = new Set((actual[table] ?? []).map((r) => JSON.stringify(r)));
    out.push({
      table,
      missing: [...es].filter((r) => !as.has(r)),
      unexpected: [...as].filter((r) => !es.has(r)),
      ...(es.size === as.size && [...es].every((r) => as.has(r)) ? { note: 'same rows, other order or count' } : {}),
    });
  }
  return out;
}

// The vox tables a snapshot covers; vox.maintenance_runs is not per org and
// events do not write it. A table added to vox fails the check that compares
// this list with the catalog, until the snapshot covers it.
export const coveredTables = [
  'agents', 'audit_log', 'call_logs', 'call_tracking', 'call_transcripts', 'calls', 'leads', 'organizations',
  'outbox', 'parked_events', 'phone_numbers', 'processed_webhook_events', 'recording_upload_queue', 'webhook_secrets',
];
// Not written by events: maintenance's record, the feed's credentials, origin
// and horizons, and the archive's deletions (queued by retention or a deleted job).
export const uncoveredTables = ['feed_credentials', 'feed_horizons', 'feed_origin', 'maintenance_runs', 'recording_deletions'];

// Test-only helpers in the test database: creating worlds and snapshots.
export const harnessSql = `
DROP SCHEMA IF EXISTS vox_rel CASCADE;
CREATE SCHEMA vox_rel;

CREATE FUNCTION vox_rel.create_world(w jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO vox.organizations (id, name) VALUES ((w->>'orgA')::uuid, 'Clinic A'), ((w->>'orgB')::uuid, 'Clinic B');
    INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role) VALUES
        ((w->>'orgA')::uuid, (w->>'agentA')::uuid, w->>'asstA', 'Receptionist', 'inbound'),
        ((w->>'orgA')::uuid, (w->>'agentOut')::uuid, w->>'asstOut', 'Recall caller', 'outbound'),
        ((w->>'orgB')::uuid, (w->>'agentB')::uuid, w->>'asstB', 'Receptionist', 'inbound');
    INSERT INTO vox.phone_numbers (org_id, id, vapi_phone_number_id, number, agent_id) VALUES
        ((w->>'orgA')::uuid, (w->>'phoneA')::uuid, w->>'pnA', '+14155550100', (w->>'agentA')::uuid),
        ((w->>'orgB')::uuid, (w->>'phoneB')::uuid, w->>'pnB', '+14155550200', (w->>'agentB')::uuid);
    -- Two leads with the callee's number: the older one is what an event
    -- alone links, the registration names the other.
    INSERT INTO vox.leads (org_id, id, phone, name, created_at) VALUES
        ((w->>'orgA')::uuid, (w->>'leadA')::uuid, '+14155550123', 'Pat A', '2025-01-01'),
        ((w->>'orgA')::uuid, (w->>'leadOutOlder')::uuid, '+14155550177', 'Sam (old)', '2025-01-01'),
        ((w->>'orgA')::uuid, (w->>'leadOut')::uuid, '+14155550177', 'Sam', '2025-02-01'),
        ((w->>'orgB')::uuid, (w->>'leadB')::uuid, '+14155550123', 'Pat B', '2025-01-01');
$$;

CREATE FUNCTION vox_rel.mask(t text, names jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v text;
BEGIN
    FOR k, v IN SELECT key, value FROM jsonb_each_text(names) ORDER BY length(key) DESC LOOP
        t := replace(t, k, v);
    END LOOP;
    RETURN t;
END
$$;

-- Masked rows, sorted by their text: independent of generated ids and of
-- the order rows were written in.
CREATE FUNCTION vox_rel.rows(q text, names jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(m ORDER BY m::text), ''[]'') FROM (SELECT vox_rel.mask(r::text, $1)::jsonb AS m FROM (%s) q(r)) s', q)
        INTO result USING names;
    RETURN result;
END
$$;

-- Every table of schema vox, without generated ids and processing times
-- (created_at, updated_at, received_at, registered_at's value, queue leases,
-- parked attempts). The outbox holds one row per change that was applied,
-- so how many rows a call gets depends on the order of its events (a late
-- ringing changes nothing); what every order agrees on: one row per
-- transcript, the call's last row (its final status), at least one row per
-- call, and never more rows than applied events (none for duplicates).
CREATE FUNCTION vox_rel.snapshot(orgs uuid[], tag text, names jsonb, strict_outbox boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o text := quote_literal(orgs::text) || '::uuid[]';
    result jsonb := '{}';
BEGIN
    result := result
      || jsonb_build_object('organizations', vox_rel.rows(format('SELECT to_jsonb(x) - ''created_at'' FROM vox.organizations x WHERE id = ANY(%s)', o), names))
      || jsonb_build_object('agents', vox_rel.rows(format('SELECT to_jsonb(x) - ''created_at'' FROM vox.agents x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('phone_numbers', vox_rel.rows(format('SELECT to_jsonb(x) - ''created_at'' FROM vox.phone_numbers x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('leads', vox_rel.rows(format('SELECT to_jsonb(x) FROM vox.leads x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('call_tracking', vox_rel.rows(format(
           'SELECT to_jsonb(x) - ''created_at'' - ''updated_at'' - ''registered_at'' || jsonb_build_object(''registered'', x.registered_at IS NOT NULL) FROM vox.call_tracking x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('call_logs', vox_rel.rows(format('SELECT to_jsonb(x) - ''created_at'' - ''updated_at'' FROM vox.call_logs x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('calls', vox_rel.rows(format('SELECT to_jsonb(x) - ''created_at'' - ''updated_at'' FROM vox.calls x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('call_transcripts', vox_rel.rows(format('SELECT to_jsonb(x) - ''id'' - ''created_at'' FROM vox.call_transcripts x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('processed_webhook_events', vox_rel.rows(format('SELECT to_jsonb(x) - ''received_at'' FROM vox.processed_webhook_events x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('recording_upload_queue', vox_rel.rows(format(
           'SELECT to_jsonb(x) - ''id'' - ''created_at'' - ''available_at'' FROM vox.recording_upload_queue x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('parked_events', vox_rel.rows(format(
           'SELECT to_jsonb(x) - ''id'' - ''received_at'' - ''last_attempt_at'' - ''attempts'' FROM vox.parked_events x WHERE signer_org_id = ANY(%s) OR strpos(x.payload::text, %L) > 0', o, tag), names))
      || jsonb_build_object('audit_log', vox_rel.rows(format(
           'SELECT to_jsonb(x) - ''id'' - ''changed_at'' - ''new_row'' - ''old_row'' || jsonb_build_object(''new_row'', x.new_row - ''created_at'', ''old_row'', x.old_row - ''created_at'') FROM vox.audit_log x WHERE org_id = ANY(%s)', o), names))
      || jsonb_build_object('webhook_secrets', (SELECT count(*) FROM vox.webhook_secrets WHERE org_id = ANY(orgs)));
    IF strict_outbox THEN
        result := result || jsonb_build_object('outbox', (
            SELECT coalesce(jsonb_agg(vox_rel.mask((to_jsonb(x) - 'id' - 'created_at' - 'available_at' - 'committed_by'
                                                    || jsonb_build_object('payload', x.payload - 'transcript_id'))::text, names)::jsonb
                                      ORDER BY x.org_id = orgs[1] DESC, x.id), '[]')
              FROM vox.outbox x WHERE org_id = ANY(orgs)));
    ELSE
        result := result
          || jsonb_build_object('outbox_transcripts', vox_rel.rows(format(
               'SELECT to_jsonb(x) - ''id'' - ''created_at'' - ''available_at'' - ''committed_by'' - ''payload'' || jsonb_build_object(''payload'', x.payload - ''transcript_id'') FROM vox.outbox x WHERE org_id = ANY(%s) AND topic = ''transcript''', o), names))
          || jsonb_build_object('outbox_calls', vox_rel.rows(format($q$
               SELECT jsonb_build_object('org_id', c.org_id, 'vapi_call_id', c.vapi_call_id,
                        'last_payload', (SELECT x.payload FROM vox.outbox x
                                          WHERE x.org_id = c.org_id AND x.vapi_call_id = c.vapi_call_id AND x.topic <> 'transcript'
                                          ORDER BY x.id DESC LIMIT 1),
                        'within_applied_events',
                          (SELECT count(*) FROM vox.outbox x
                            WHERE x.org_id = c.org_id AND x.vapi_call_id = c.vapi_call_id AND x.topic <> 'transcript')
                          <= (SELECT count(*) FROM vox.processed_webhook_events p
                               WHERE p.org_id = c.org_id AND p.vapi_call_id = c.vapi_call_id AND p.event_type <> 'transcript')
                             + (c.registered_at IS NOT NULL)::int)
                 FROM vox.call_tracking c WHERE c.org_id = ANY(%s)$q$, o), names));
    END IF;
    RETURN result;
END
$$;
`;

export { CALL_IN, CALL_LATE, CALL_OUT, CALL_GHOST };
