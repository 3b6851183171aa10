-- Every row of every vox table, without what differs between two servers
-- (generated ids, clocks, transaction ids), in one stable order.
\set ON_ERROR_STOP 1
SELECT c.relname, r.row_data
  FROM pg_class c
 CROSS JOIN LATERAL vox_test.table_rows(c.oid::regclass) r
 WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind = 'r'
   AND c.relname NOT IN ('maintenance_runs', 'feed_origin')
   AND c.relname !~ '_[0-9]+$'
 ORDER BY 1, 2;
