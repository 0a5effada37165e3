"""Workspaces, roles and invitations: who may do what, and the last owner stays."""

from __future__ import annotations

import uuid

import pytest

from tests.support.factories import Factory
from tests.support.graphql import GraphQL


async def test_my_workspaces_lists_only_mine_with_my_role(gql: GraphQL, factory: Factory) -> None:
    mine = await factory.tenant("Mine")
    await factory.tenant("Someone else's")
    joined = await factory.tenant("Joined")
    account = mine.owner
    invite = (
        await joined.gql.op("InviteMember", {"input": {"email": account.email, "role": "ADMIN"}})
    ).data["inviteMember"]
    await gql.as_(account.token).op("AcceptInvitation", {"token": invite["token"]})

    viewer = (await gql.as_(account.token).op("Viewer")).data["viewer"]
    roles = {e["node"]["id"]: e["node"]["viewerRole"] for e in viewer["workspaces"]["edges"]}
    assert roles == {mine.id: "OWNER", joined.id: "ADMIN"}


async def test_workspaces_page_through_with_cursors(gql: GraphQL, factory: Factory) -> None:
    owner = await factory.account()
    created = [(await factory.tenant(f"W{i}", owner=owner)).id for i in range(3)]
    client = gql.as_(owner.token)
    first = (await client.op("Viewer", {"first": 2})).data["viewer"]["workspaces"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await client.op("Viewer", {"first": 2, "after": first["pageInfo"]["endCursor"]})).data[
        "viewer"
    ]["workspaces"]
    assert rest["pageInfo"]["hasNextPage"] is False
    ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert ids == created


async def test_slug_conflict_and_validation(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    client = gql.as_(tenant.owner.token)
    taken = await client.op("CreateWorkspace", {"input": {"name": "X", "slug": tenant.slug}})
    assert taken.code == "CONFLICT"
    for slug in ("Bad Slug", "-edge", "a" * 49, "ünïcode"):
        bad = await client.op("CreateWorkspace", {"input": {"name": "X", "slug": slug}})
        assert bad.code == "VALIDATION", slug
    long_name = await client.op("CreateWorkspace", {"input": {"name": "n" * 10_000}})
    assert long_name.code == "VALIDATION"
    assert long_name.errors[0]["extensions"]["field"] == "name"


async def test_anonymous_cannot_create_workspaces(gql: GraphQL) -> None:
    result = await gql.op("CreateWorkspace", {"input": {"name": "X"}})
    assert result.code == "UNAUTHENTICATED"


async def test_selecting_a_workspace_i_do_not_belong_to_is_forbidden(
    gql: GraphQL, factory: Factory
) -> None:
    a = await factory.tenant("A")
    b = await factory.tenant("B")
    result = await gql.as_(a.owner.token, b.id).op("CurrentWorkspace")
    assert result.status == 403
    assert result.code == "FORBIDDEN"
    malformed = await gql.as_(a.owner.token, "not-an-id").op("CurrentWorkspace")
    assert malformed.code == "VALIDATION"


async def test_members_cannot_manage_admins_can(factory: Factory) -> None:
    tenant = await factory.tenant()
    member, member_gql = await factory.member(tenant, "MEMBER")
    denied = await member_gql.op("InviteMember", {"input": {"email": "x@example.com"}})
    assert denied.code == "FORBIDDEN"
    assert (await member_gql.op("RenameWorkspace", {"name": "Nope"})).code == "FORBIDDEN"
    assert (await member_gql.op("WorkspaceAdmin")).code == "FORBIDDEN"

    _admin, admin_gql = await factory.member(tenant, "ADMIN")
    invited = await admin_gql.op("InviteMember", {"input": {"email": "y@example.com"}})
    assert invited.data["inviteMember"]["invitation"]["role"] == "MEMBER"
    renamed = await admin_gql.op("RenameWorkspace", {"name": "Renamed"})
    assert renamed.data["renameWorkspace"]["name"] == "Renamed"
    promoted = await admin_gql.op("ChangeMemberRole", {"userId": member.user_id, "role": "ADMIN"})
    assert promoted.data["changeMemberRole"]["role"] == "ADMIN"


async def test_admins_cannot_touch_owners_or_other_admins(factory: Factory) -> None:
    tenant = await factory.tenant()
    _, admin_gql = await factory.member(tenant, "ADMIN")
    other_admin, _ = await factory.member(tenant, "ADMIN")
    member, _ = await factory.member(tenant, "MEMBER")
    owner_id = tenant.owner.user_id
    checks = [
        ("ChangeMemberRole", {"userId": owner_id, "role": "MEMBER"}),
        ("RemoveMember", {"userId": owner_id}),
        ("ChangeMemberRole", {"userId": member.user_id, "role": "OWNER"}),
        ("ChangeMemberRole", {"userId": other_admin.user_id, "role": "MEMBER"}),
        ("RemoveMember", {"userId": other_admin.user_id}),
    ]
    for name, variables in checks:
        result = await admin_gql.op(name, variables)
        assert result.code == "FORBIDDEN", (name, variables)
    assert (await admin_gql.op("DeleteWorkspace", {"confirmSlug": tenant.slug})).code == "FORBIDDEN"
    removed = await admin_gql.op("RemoveMember", {"userId": member.user_id})
    assert removed.data["removeMember"]["id"]


async def test_last_owner_cannot_leave_or_be_demoted(factory: Factory) -> None:
    tenant = await factory.tenant()
    me = tenant.owner.user_id
    assert (await tenant.gql.op("RemoveMember", {"userId": me})).code == "CONFLICT"
    demote = await tenant.gql.op("ChangeMemberRole", {"userId": me, "role": "ADMIN"})
    assert demote.code == "CONFLICT"

    # With a second owner, the first may step down.
    second, second_gql = await factory.member(tenant, "OWNER")
    stepped = await tenant.gql.op("ChangeMemberRole", {"userId": me, "role": "ADMIN"})
    assert stepped.data["changeMemberRole"]["role"] == "ADMIN"
    assert (await second_gql.op("RemoveMember", {"userId": second.user_id})).code == "CONFLICT"


async def test_transfer_ownership(factory: Factory) -> None:
    tenant = await factory.tenant()
    admin, admin_gql = await factory.member(tenant, "ADMIN")
    moved = await tenant.gql.op("TransferOwnership", {"userId": admin.user_id})
    assert moved.data["transferOwnership"]["viewerRole"] == "ADMIN"
    now = (await admin_gql.op("CurrentWorkspace")).data["workspace"]
    assert now["viewerRole"] == "OWNER"
    # The previous owner is an admin now and cannot delete the workspace.
    assert (await tenant.gql.op("DeleteWorkspace", {"confirmSlug": tenant.slug})).code == (
        "FORBIDDEN"
    )
    outsider = await factory.account()
    missing = await admin_gql.op("TransferOwnership", {"userId": outsider.user_id})
    assert missing.code == "NOT_FOUND"


async def test_members_may_leave(factory: Factory) -> None:
    tenant = await factory.tenant()
    member, member_gql = await factory.member(tenant, "MEMBER")
    assert (await member_gql.op("RemoveMember", {"userId": member.user_id})).data
    gone = await member_gql.op("CurrentWorkspace")
    assert gone.code == "FORBIDDEN"


async def test_delete_workspace_needs_the_slug_and_removes_everything(
    gql: GraphQL, factory: Factory
) -> None:
    tenant = await factory.tenant()
    member, member_gql = await factory.member(tenant, "MEMBER")
    wrong = await tenant.gql.op("DeleteWorkspace", {"confirmSlug": "wrong"})
    assert wrong.code == "VALIDATION"
    deleted = await tenant.gql.op("DeleteWorkspace", {"confirmSlug": tenant.slug})
    assert deleted.data["deleteWorkspace"]["id"] == tenant.id
    assert (await member_gql.op("CurrentWorkspace")).code == "FORBIDDEN"
    viewer = (await gql.as_(member.token).op("Viewer")).data["viewer"]
    assert viewer["workspaces"]["edges"] == []


class TestInvitations:
    async def test_token_is_single_use_and_bound_to_the_email(
        self, gql: GraphQL, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        invitee = await factory.account("invitee")
        stranger = await factory.account("stranger")
        token = (
            await tenant.gql.op("InviteMember", {"input": {"email": invitee.email.upper()}})
        ).data["inviteMember"]["token"]
        assert token.startswith("inv_")

        wrong_person = await gql.as_(stranger.token).op("AcceptInvitation", {"token": token})
        assert wrong_person.code == "FORBIDDEN"
        accepted = await gql.as_(invitee.token).op("AcceptInvitation", {"token": token})
        assert accepted.data["acceptInvitation"]["id"] == tenant.id
        again = await gql.as_(invitee.token).op("AcceptInvitation", {"token": token})
        assert again.code == "CONFLICT"

    async def test_invalid_revoked_and_forged_tokens(self, gql: GraphQL, factory: Factory) -> None:
        tenant = await factory.tenant()
        other = await factory.tenant()
        invitee = await factory.account()
        created = (await tenant.gql.op("InviteMember", {"input": {"email": invitee.email}})).data[
            "inviteMember"
        ]
        revoked = await tenant.gql.op("RevokeInvitation", {"id": created["invitation"]["id"]})
        assert revoked.data["revokeInvitation"]["status"] == "REVOKED"
        client = gql.as_(invitee.token)
        assert (await client.op("AcceptInvitation", {"token": created["token"]})).code == (
            "NOT_FOUND"
        )
        # The same secret presented under another workspace's id finds nothing.
        secret = created["token"].split("_", 2)[2]
        other_hex = uuid.UUID(
            __import__("base64").urlsafe_b64decode(other.id + "==").decode().split(":")[1]
        ).hex
        forged = f"inv_{other_hex}_{secret}"
        assert (await client.op("AcceptInvitation", {"token": forged})).code == "NOT_FOUND"
        for junk in ("", "inv_", "inv_zz_" + "a" * 40, "x" * 5000):
            assert (await client.op("AcceptInvitation", {"token": junk})).code == "NOT_FOUND"

    async def test_inviting_an_existing_member_conflicts(self, factory: Factory) -> None:
        tenant = await factory.tenant()
        member, _ = await factory.member(tenant)
        result = await tenant.gql.op("InviteMember", {"input": {"email": member.email}})
        assert result.code == "CONFLICT"

    @pytest.mark.parametrize("email", ["nope", "", "a@" + "b" * 400 + ".com"])
    async def test_invite_validates_email(self, factory: Factory, email: str) -> None:
        tenant = await factory.tenant()
        result = await tenant.gql.op("InviteMember", {"input": {"email": email}})
        assert result.code == "VALIDATION"

    async def test_cannot_invite_as_owner(self, factory: Factory) -> None:
        tenant = await factory.tenant()
        result = await tenant.gql.op(
            "InviteMember", {"input": {"email": "o@example.com", "role": "OWNER"}}
        )
        assert result.code == "VALIDATION"

    async def test_pending_invitations_are_listed_with_sender(self, factory: Factory) -> None:
        tenant = await factory.tenant()
        await tenant.gql.op("InviteMember", {"input": {"email": "p1@example.com"}})
        admin = (await tenant.gql.op("WorkspaceAdmin")).data["workspace"]
        invitations = [e["node"] for e in admin["invitations"]["edges"]]
        assert [i["email"] for i in invitations] == ["p1@example.com"]
        assert invitations[0]["invitedBy"]["email"] == tenant.owner.email
        assert invitations[0]["status"] == "PENDING"


async def test_audit_log_records_security_actions(factory: Factory) -> None:
    tenant = await factory.tenant()
    member, _ = await factory.member(tenant, "MEMBER")
    await tenant.gql.op("ChangeMemberRole", {"userId": member.user_id, "role": "ADMIN"})
    log = (await tenant.gql.op("AuditLog", {"first": 50})).data["workspace"]["auditLog"]
    actions = [e["node"]["action"] for e in log["edges"]]
    # Newest first.
    assert actions[:4] == [
        "member.role_changed",
        "invitation.accepted",
        "invitation.created",
        "workspace.created",
    ]
    only = (await tenant.gql.op("AuditLog", {"action": "invitation.created"})).data
    assert [e["node"]["action"] for e in only["workspace"]["auditLog"]["edges"]] == [
        "invitation.created"
    ]
