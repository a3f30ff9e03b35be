"""The staff portal: server-rendered GOV.UK pages over the same services, principal and audit as the GraphQL API."""
