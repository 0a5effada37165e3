// Runs stock GraphQL clients, unmodified, against the /graphql URL given as the first argument
// and prints what each saw as one JSON object.
import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange } from '@urql/core';
import { request } from 'graphql-request';

const url = process.argv[2];
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

// Every request Apollo Client sends: whether it carried the query text, and the status.
const sent = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const body = init && init.body ? JSON.parse(init.body) : {};
  sent.push({ withQuery: typeof body.query === 'string', status: response.status });
  return response;
};

const apollo = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.from([
    new PersistedQueryLink({ sha256 }),
    new HttpLink({ uri: url, fetch: recordingFetch }),
  ]),
});

const query = gql`query ClientsTypename { __typename }`;
const first = await apollo.query({ query, fetchPolicy: 'network-only' });
const second = await apollo.query({ query, fetchPolicy: 'network-only' });
let invalid;
try {
  await apollo.query({ query: gql`query Broken { nope }`, fetchPolicy: 'network-only' });
} catch (error) {
  invalid = { name: error.name, code: error.errors?.[0]?.extensions?.code ?? null };
}

const urql = new Client({ url, exchanges: [fetchExchange] });
const urqlResult = await urql.query('query UrqlTypename { __typename }', {}).toPromise();

const graphqlRequest = await request(url, 'query RequestTypename { __typename }');

console.log(
  JSON.stringify({
    apollo: { first: first.data, second: second.data, sent, invalid },
    urql: { data: urqlResult.data, error: urqlResult.error ? String(urqlResult.error) : null },
    graphqlRequest,
  }),
);
