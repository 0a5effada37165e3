"""Sign-up, log-in, refresh-token rotation with reuse detection, log-out, password change."""

from __future__ import annotations

import pytest

from tests.support.factories import PASSWORD, Factory
from tests.support.graphql import GraphQL


async def test_sign_up_then_log_in_returns_working_tokens(gql: GraphQL, factory: Factory) -> None:
    account = await factory.account("alice")
    viewer = (await gql.as_(account.token).op("Viewer")).data["viewer"]
    assert viewer["user"]["email"] == account.email

    login = (
        await gql.op("LogIn", {"input": {"email": account.email.upper(), "password": PASSWORD}})
    ).data["logIn"]
    assert login["user"]["id"] == account.user_id
    again = (await gql.as_(login["accessToken"]).op("Viewer")).data["viewer"]
    assert again["user"]["id"] == account.user_id


async def test_duplicate_email_is_a_conflict(gql: GraphQL, factory: Factory) -> None:
    account = await factory.account()
    result = await gql.op(
        "SignUp", {"input": {"email": account.email, "password": PASSWORD, "displayName": "X"}}
    )
    assert result.code == "CONFLICT"
    assert result.errors[0]["extensions"]["field"] == "email"


async def test_wrong_password_and_unknown_email_fail_the_same_way(
    gql: GraphQL, factory: Factory
) -> None:
    account = await factory.account()
    wrong = await gql.op("LogIn", {"input": {"email": account.email, "password": "nope" * 4}})
    unknown = await gql.op(
        "LogIn", {"input": {"email": "nobody-here@example.com", "password": PASSWORD}}
    )
    assert wrong.code == unknown.code == "UNAUTHENTICATED"
    assert wrong.errors[0]["message"] == unknown.errors[0]["message"]
    assert wrong.body["data"] is None


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    gql: GraphQL, factory: Factory
) -> None:
    account = await factory.account()
    first = (await gql.op("RefreshSession", {"input": {"refreshToken": account.refresh}})).data[
        "refreshSession"
    ]
    assert first["refreshToken"] != account.refresh
    second = (
        await gql.op("RefreshSession", {"input": {"refreshToken": first["refreshToken"]}})
    ).data["refreshSession"]

    # The first token comes back: someone copied it. Everything of that session dies.
    reuse = await gql.op("RefreshSession", {"input": {"refreshToken": account.refresh}})
    assert reuse.code == "UNAUTHENTICATED"
    latest = await gql.op("RefreshSession", {"input": {"refreshToken": second["refreshToken"]}})
    assert latest.code == "UNAUTHENTICATED"
    # Access tokens of the revoked session stop working at once.
    blocked = await gql.as_(second["accessToken"]).op("Viewer")
    assert blocked.status == 401
    assert blocked.code == "UNAUTHENTICATED"


async def test_malformed_refresh_tokens_are_rejected(gql: GraphQL) -> None:
    for token in ("", "rt_" + "x" * 10, "garbage", "rt_" + "y" * 300):
        result = await gql.op("RefreshSession", {"input": {"refreshToken": token}})
        assert result.code == "UNAUTHENTICATED"


async def test_log_out_ends_the_session(gql: GraphQL, factory: Factory) -> None:
    account = await factory.account()
    assert (await gql.as_(account.token).op("LogOut")).data["logOut"] is True
    assert (await gql.as_(account.token).op("Viewer")).status == 401
    refresh = await gql.op("RefreshSession", {"input": {"refreshToken": account.refresh}})
    assert refresh.code == "UNAUTHENTICATED"


async def test_change_password_ends_other_sessions_only(gql: GraphQL, factory: Factory) -> None:
    account = await factory.account()
    other = (await gql.op("LogIn", {"input": {"email": account.email, "password": PASSWORD}})).data[
        "logIn"
    ]
    new_password = "a much longer passphrase"
    changed = await gql.as_(account.token).op(
        "ChangePassword", {"input": {"currentPassword": PASSWORD, "newPassword": new_password}}
    )
    assert changed.data["changePassword"] is True
    assert (await gql.as_(account.token).op("Viewer")).status == 200
    assert (await gql.as_(other["accessToken"]).op("Viewer")).status == 401
    old = await gql.op("LogIn", {"input": {"email": account.email, "password": PASSWORD}})
    assert old.code == "UNAUTHENTICATED"
    new = await gql.op("LogIn", {"input": {"email": account.email, "password": new_password}})
    assert new.data["logIn"]["user"]["id"] == account.user_id


async def test_change_password_checks_the_current_one(gql: GraphQL, factory: Factory) -> None:
    account = await factory.account()
    result = await gql.as_(account.token).op(
        "ChangePassword",
        {"input": {"currentPassword": "wrong password!", "newPassword": "another passphrase"}},
    )
    assert result.code == "VALIDATION"
    assert result.errors[0]["extensions"]["field"] == "currentPassword"


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("not-an-email", PASSWORD, "N", "email"),
        ("a@b", PASSWORD, "N", "email"),
        ("two@@example.com", PASSWORD, "N", "email"),
        ("ok@example.com", "short", "N", "password"),
        ("ok@example.com", "aaaaaaaaaaaaaaa", "N", "password"),
        ("ok@example.com", "x" * 300, "N", "password"),
        ("ok@example.com", PASSWORD, "", "displayName"),
        ("ok@example.com", PASSWORD, "n" * 10_000, "displayName"),
        ("ok@example.com", PASSWORD, "bell\x07", "displayName"),
        ("x" * 10_000 + "@example.com", PASSWORD, "N", "email"),
    ],
)
async def test_sign_up_validates_input(
    gql: GraphQL, email: str, password: str, name: str, field: str
) -> None:
    result = await gql.op(
        "SignUp", {"input": {"email": email, "password": password, "displayName": name}}
    )
    assert result.code == "VALIDATION"
    assert result.errors[0]["extensions"]["field"] == field
    assert result.body["data"] is None


async def test_forged_and_expired_access_tokens_are_unauthenticated(gql: GraphQL) -> None:
    import datetime as dt

    import jwt

    claims = {
        "sub": "00000000-0000-0000-0000-000000000001",
        "sid": "x",
        "iss": "parley",
        "typ": "access",
        "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
    }
    forged = jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256")
    for token in (forged, "abc.def.ghi", "x"):
        result = await gql.as_(token).op("Viewer")
        assert result.status == 401
        assert result.code == "UNAUTHENTICATED"


async def test_authorization_header_must_be_bearer(gql: GraphQL) -> None:
    result = await gql.op("Viewer", authorization="Basic dXNlcjpwYXNz")
    assert result.status == 400
    assert result.code == "VALIDATION"


async def test_workspace_can_be_chosen_by_token_claim(gql: GraphQL, factory: Factory) -> None:
    tenant = await factory.tenant()
    login = (
        await gql.op(
            "LogIn",
            {
                "input": {
                    "email": tenant.owner.email,
                    "password": PASSWORD,
                    "workspaceId": tenant.id,
                }
            },
        )
    ).data["logIn"]
    # No X-Workspace-Id header: the access token's claim selects the workspace.
    ws = (await gql.as_(login["accessToken"]).op("CurrentWorkspace")).data["workspace"]
    assert ws["id"] == tenant.id
    other = await factory.tenant()
    # The header wins over the claim, and membership is still checked.
    assert (await gql.as_(login["accessToken"], other.id).op("CurrentWorkspace")).code == (
        "FORBIDDEN"
    )


async def test_no_token_names_a_workspace_the_user_is_not_a_member_of(
    gql: GraphQL, factory: Factory
) -> None:
    stranger = await factory.account("stranger")
    theirs = await factory.tenant()
    login = await gql.op(
        "LogIn",
        {"input": {"email": stranger.email, "password": PASSWORD, "workspaceId": theirs.id}},
    )
    assert login.code == "FORBIDDEN"
    assert login.body["data"] is None  # no tokens
    assert login.errors[0]["extensions"]["field"] == "workspaceId"
    refreshed = await gql.op(
        "RefreshSession", {"input": {"refreshToken": stranger.refresh, "workspaceId": theirs.id}}
    )
    assert refreshed.code == "FORBIDDEN"
    # The refused refresh rolled back: the refresh token still works, without the workspace.
    again = await gql.op("RefreshSession", {"input": {"refreshToken": stranger.refresh}})
    assert again.data["refreshSession"]["accessToken"]
