-- What the citus suite compares rows with, on the single node and the
-- coordinator. PL/pgSQL: Citus plans no SQL function that passes its
-- parameters to a distributed table.
\set ON_ERROR_STOP 1
-- A row without what differs between two servers: generated ids, clocks,
-- transaction ids, and the same inside the rows an audit entry keeps.
CREATE FUNCTION vox_test.stable(r jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT (r - '{id,created_at,updated_at,received_at,committed_by,changed_at,available_at,registered_at,last_attempt_at,completed_at}'::text[])
        || CASE WHEN jsonb_typeof(r -> 'payload') = 'object'
                THEN jsonb_build_object('payload', (r -> 'payload') - 'transcript_id') ELSE '{}' END
        || CASE WHEN jsonb_typeof(r -> 'old_row') = 'object'
                THEN jsonb_build_object('old_row', (r -> 'old_row') - '{id,created_at,updated_at}'::text[]) ELSE '{}' END
        || CASE WHEN jsonb_typeof(r -> 'new_row') = 'object'
                THEN jsonb_build_object('new_row', (r -> 'new_row') - '{id,created_at,updated_at}'::text[]) ELSE '{}' END
$$;

CREATE FUNCTION vox_test.table_rows(t regclass) RETURNS TABLE (row_data text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT vox_test.stable(to_jsonb(x))::text FROM %s x', t);
END
$$;
