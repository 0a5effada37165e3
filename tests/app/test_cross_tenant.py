"""Cross-tenant attempts through GraphQL find nothing: reads, updates, deletes and node(id:)."""

from __future__ import annotations

from tests.support.factories import Factory, Tenant


async def _populate(factory: Factory, name: str) -> tuple[Tenant, dict[str, str]]:
    tenant = await factory.tenant(name)
    member, _ = await factory.member(tenant, "MEMBER")
    invitation = (
        await tenant.gql.op("InviteMember", {"input": {"email": f"p-{name}@example.com"}})
    ).data["inviteMember"]["invitation"]
    key = (await tenant.gql.op("CreateSecretKey", {"input": {"name": name}})).data[
        "createSecretKey"
    ]["apiKey"]
    members = (await tenant.gql.op("CurrentWorkspace")).data["workspace"]["members"]["edges"]
    ids = {
        "workspace": tenant.id,
        "member_user": member.user_id,
        "member": next(
            e["node"]["id"] for e in members if e["node"]["user"]["id"] == member.user_id
        ),
        "invitation": invitation["id"],
        "api_key": key["id"],
    }
    return tenant, ids


async def test_node_with_another_workspaces_ids_finds_nothing(factory: Factory) -> None:
    a, a_ids = await _populate(factory, "a")
    _, b_ids = await _populate(factory, "b")
    for name, global_id in b_ids.items():
        result = await a.gql.op("Node", {"id": global_id})
        assert result.data["node"] is None, name
    # Control: the same query with A's own ids finds them, so "None" above means isolation.
    for name, global_id in a_ids.items():
        result = await a.gql.op("Node", {"id": global_id})
        assert result.data["node"] is not None, name


async def test_updates_and_deletes_with_foreign_ids_are_not_found(factory: Factory) -> None:
    a, _ = await _populate(factory, "c")
    b, b_ids = await _populate(factory, "d")
    attempts = [
        ("ChangeMemberRole", {"userId": b_ids["member_user"], "role": "ADMIN"}),
        ("RemoveMember", {"userId": b_ids["member_user"]}),
        ("RevokeInvitation", {"id": b_ids["invitation"]}),
        ("RevokeApiKey", {"id": b_ids["api_key"]}),
        ("SetAllowedOrigins", {"id": b_ids["api_key"], "allowedOrigins": ["https://x.io"]}),
        ("TransferOwnership", {"userId": b.owner.user_id}),
    ]
    for name, variables in attempts:
        result = await a.gql.op(name, variables)
        assert result.code == "NOT_FOUND", (name, result.body)
    # B is untouched.
    admin = (await b.gql.op("WorkspaceAdmin")).data["workspace"]
    assert [e["node"]["revokedAt"] for e in admin["apiKeys"]["edges"]] == [None]
    assert [e["node"]["status"] for e in admin["invitations"]["edges"]] == ["PENDING"]
    members = (await b.gql.op("CurrentWorkspace")).data["workspace"]["members"]["edges"]
    assert sorted(e["node"]["role"] for e in members) == ["MEMBER", "OWNER"]


async def test_wrong_type_ids_are_validation_errors(factory: Factory) -> None:
    a, a_ids = await _populate(factory, "e")
    result = await a.gql.op("RevokeApiKey", {"id": a_ids["invitation"]})
    assert result.code == "VALIDATION"
    for junk in ("", "!!!", "V29ya3NwYWNlOm5vdC1hLXV1aWQ", "x" * 10_000):
        assert (await a.gql.op("Node", {"id": junk})).code == "VALIDATION", junk


async def test_a_failed_request_leaves_nothing_behind(factory: Factory) -> None:
    owner = await factory.account()
    existing = await factory.tenant("Existing", owner=owner)
    client = factory.gql.as_(owner.token)
    # Two mutations in one request: the first succeeds, the second fails on a taken slug.
    # The whole request rolls back, so the first workspace must not exist afterwards.
    document = """
    mutation Twice($fresh: String!, $taken: String!) {
      first: createWorkspace(input: {name: "First", slug: $fresh}) { id }
      second: createWorkspace(input: {name: "Second", slug: $taken}) { id }
    }"""
    fresh = "fresh-" + existing.id[-8:].lower().replace("_", "a").replace("-", "a")
    result = await client.query(document, {"fresh": fresh, "taken": existing.slug})
    assert result.codes == ["CONFLICT"]
    # Mutations run in order, so "first" was inserted before "second" failed; the non-null
    # error then nulls all of `data`, and the transaction rolls back.
    assert result.body["data"] is None
    viewer = (await client.op("Viewer")).data["viewer"]
    slugs = [e["node"]["slug"] for e in viewer["workspaces"]["edges"]]
    assert slugs == [existing.slug]
    # The slug is free again, proving no row was kept.
    retry = await client.op("CreateWorkspace", {"input": {"name": "First", "slug": fresh}})
    assert retry.data["createWorkspace"]["slug"] == fresh
