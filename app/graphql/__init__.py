"""The Strawberry layer: thin resolvers that parse input, call a service and return a type."""
