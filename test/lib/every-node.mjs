import { execFileSync } from 'node:child_process';

// Statements that set up a test database's roles and grants, run on the node
// the client is connected to and, where that is a Citus coordinator, on every
// worker too: vox's calls run there as the same login, and Citus passes on
// neither a role made before (in another database) nor a grant on the schema
// an extension made (docs/scale-out.md). Each statement must be repeatable.
export async function onEveryNode(client, statements) {
  for (const statement of statements) await client.query(statement);
  for (const statement of statements) {
    await onWorkers(client, `SET citus.enable_create_role_propagation = off; ${statement}`);
  }
}

// Runs one command as it is on every Citus worker, where the client is
// connected to a coordinator (ALTER SYSTEM, which a transaction block
// refuses, must come alone).
export async function onWorkers(client, command) {
  if ((await client.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).rowCount === 0) return;
  const { rows } = await client.query('SELECT success, result FROM run_command_on_workers($1)', [command]);
  for (const row of rows) if (!row.success) throw new Error(`on a worker: ${row.result}`);
}

// A login role, made when missing.
export const loginRole = (name) =>
  `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${name}') THEN CREATE ROLE ${name} LOGIN; END IF; END $$`;

// An empty database NAME for one test file: `COMMAND NAME` where a command
// is given (on Citus, test/citus/run.sh's, which leaves an empty distributed
// vox there), otherwise NAME dropped and made again through ADMIN (a
// function that runs its argument with a client of database postgres).
// Returns whether vox is still to be created.
export async function freshDatabase(command, name, admin) {
  if (command) {
    execFileSync('bash', ['-c', `${command} ${name}`], { timeout: 60_000, stdio: 'ignore' });
    return false;
  }
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  });
  return true;
}
