// Runs every GraphQL-over-HTTP server audit of graphql-http against the URL given as the first
// argument and prints the results as one JSON array: [{id, name, status, reason}].
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === 'ok' ? null : result.reason,
  });
}
console.log(JSON.stringify(results));
