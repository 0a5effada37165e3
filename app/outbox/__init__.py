"""The transactional job outbox: jobs are stored with the data that needs them and delivered
to arq after commit, by the request itself or, failing that, by the relay."""
