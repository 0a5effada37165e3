// PostGraphile 5 over Parley's database, for the side-by-side benchmark (ops/bench/graphql).
//
// It connects as Parley's application role, so the same row-level security policies apply,
// and scopes each request's transaction the way Parley does: it checks the caller's access
// token (HS256, Parley's secret and issuer) and sets `app.workspace_id` (from the
// x-workspace-id header) and `app.user_id` (the token's subject) as transaction-local
// settings through grafast's `pgSettings`. Unlike Parley it does not look up the session or
// the membership in the database: a valid token is enough.
//
//   DATABASE_URL=postgresql://parley_app@/db?host=/socket JWT_SECRET=... PORT=5678 node server.mjs
import "./node20.mjs";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { jsonPgSmartTags } from "postgraphile/utils";

const secret = process.env.JWT_SECRET;
const issuer = process.env.JWT_ISSUER || "parley";
const port = Number(process.env.PORT || 5678);

function tenantSettings(req) {
  const header = req.headers.authorization || "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : null;
  if (!token) return {};
  let claims;
  try {
    claims = jwt.verify(token, secret, { algorithms: ["HS256"], issuer });
  } catch {
    return {};
  }
  const workspace = req.headers["x-workspace-id"] || claims.wid || "";
  return { "app.workspace_id": String(workspace), "app.user_id": String(claims.sub) };
}

// documents.created_by has no foreign key in Parley's schema (authors may be deleted); a smart
// tag declares the relation so PostGraphile can follow it to the author's name.
const AuthorRelation = jsonPgSmartTags({
  version: 1,
  config: { class: { documents: { tags: { foreignKey: "(created_by) references users (id)" } } } },
});

const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [AuthorRelation],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.POOL_SIZE || 20) },
    }),
  ],
  grafast: {
    explain: false,
    context(requestContext) {
      const req = requestContext.node?.req;
      return { pgSettings: req ? tenantSettings(req) : {} };
    },
  },
  grafserv: { port, graphqlPath: "/graphql", graphiql: false, watch: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 120_000;
serv.addTo(server).then(() => {
  server.listen(port, "127.0.0.1", () => console.log(`postgraphile listening on ${port}`));
});
