"""The inbound edge: app factory, GraphQL schema, webhook routes, workers and the CLI."""
