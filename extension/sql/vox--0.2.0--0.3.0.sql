-- vox 0.3.0: what a DBA needs (least-privilege worker, pg_dump keeps vox's
-- data, no forgeable audit, bounded replay).

\echo Use "ALTER EXTENSION vox UPDATE TO '0.3.0'" to load this file. \quit
