-- Every row the handlers write, one line each, without ids and the columns
-- set from now() (only whether they are set) or by the transaction (committed_by). The outbox keeps its order, and
-- a transcript's outbox entry names the utterance by content key, not by id.
SELECT line FROM (
    SELECT 'result ' || seq || ' ' || coalesce(result, '<null>') AS line FROM vox_check.results
    UNION ALL
    SELECT 'call_tracking ' || (to_jsonb(t) - 'created_at' - 'updated_at' - 'registered_at'
                                || jsonb_build_object('registered', t.registered_at IS NOT NULL))::text
      FROM vox.call_tracking t
    UNION ALL
    SELECT 'call_logs ' || (to_jsonb(l) - 'created_at' - 'updated_at')::text FROM vox.call_logs l
    UNION ALL
    SELECT 'calls ' || (to_jsonb(c) - 'created_at' - 'updated_at')::text FROM vox.calls c
    UNION ALL
    SELECT 'call_transcripts ' || (to_jsonb(x) - 'id' - 'created_at')::text FROM vox.call_transcripts x
    UNION ALL
    SELECT 'processed_webhook_events ' || (to_jsonb(p) - 'received_at')::text FROM vox.processed_webhook_events p
    UNION ALL
    SELECT 'parked_events ' || (to_jsonb(p) - 'id' - 'received_at' - 'last_attempt_at'
                                || jsonb_build_object('attempted', p.last_attempt_at IS NOT NULL))::text
      FROM vox.parked_events p
    UNION ALL
    SELECT 'outbox ' || lpad(row_number() OVER (ORDER BY o.id)::text, 4, '0') || ' '
           || (to_jsonb(o) - 'id' - 'created_at' - 'available_at' - 'committed_by'
               || jsonb_build_object('payload', o.payload - 'transcript_id'
                                                || jsonb_strip_nulls(jsonb_build_object('transcript', x.content_key))))::text
      FROM vox.outbox o
      LEFT JOIN vox.call_transcripts x ON x.org_id = o.org_id AND x.id = (o.payload ->> 'transcript_id')::bigint
    UNION ALL
    SELECT 'recording_upload_queue ' || (to_jsonb(r) - 'id' - 'created_at' - 'available_at')::text
      FROM vox.recording_upload_queue r
) rows
ORDER BY line COLLATE "C";
