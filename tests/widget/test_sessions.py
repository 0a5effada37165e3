"""Widget sessions: a publishable key from an allowed origin becomes a visitor token bound to
that origin; visitor ids and identities are honoured only when signed."""

from __future__ import annotations

import hashlib
import hmac

from tests.support.factories import Factory, make_widget


async def test_session_from_allowed_origin_gives_a_bound_visitor_token(factory: Factory) -> None:
    widget = await make_widget(factory)
    session = await widget.session()
    token = str(session["visitorToken"])
    assert token.startswith("vt_")
    config = (await widget.visitor(token).op("VisitorWidget")).data["visitorWidget"]
    assert config["title"] == "Ask us anything"
    # The same token from another origin is refused, even an allowed-looking one.
    for origin in ("https://evil-example.com", "https://shop.example.com.evil.io", "null"):
        refused = await widget.visitor(token, origin).op("VisitorWidget")
        assert refused.code == "FORBIDDEN", origin
    # No Origin header at all (a server-side script) is refused too.
    bare = widget.visitor(token)
    bare.headers.pop("origin")
    assert (await bare.op("VisitorWidget")).code == "FORBIDDEN"


async def test_session_from_a_forbidden_origin_is_refused(factory: Factory) -> None:
    widget = await make_widget(factory)
    result = await widget.page("https://attacker.example").op("StartWidgetSession")
    assert result.status == 403
    assert result.code == "FORBIDDEN"


async def test_visitor_ids_persist_only_when_signed(factory: Factory) -> None:
    widget = await make_widget(factory)
    first = await widget.session()
    again = await widget.session(visitorId=first["visitorId"])
    assert again["visitorId"] == first["visitorId"]
    forged = str(first["visitorId"]).split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    fresh = await widget.session(visitorId=forged)
    assert fresh["visitorId"] not in (first["visitorId"], forged)
    # A visitor id signed for another workspace does not carry over either.
    other = await make_widget(factory)
    moved = await other.session(visitorId=first["visitorId"])
    assert moved["visitorId"] != first["visitorId"]


async def test_identity_counts_only_with_a_valid_signature(factory: Factory) -> None:
    widget = await make_widget(factory)
    secret = (await widget.tenant.gql.op("WidgetIdentitySecret", {"keyId": widget.key_id})).data[
        "widgetIdentitySecret"
    ]
    signature = hmac.new(secret.encode(), b"customer-42", hashlib.sha256).hexdigest()
    signed = await widget.session(identity={"userId": "customer-42", "signature": signature})
    assert signed["identified"] is True
    again = await widget.session(identity={"userId": "customer-42", "signature": signature})
    assert again["visitorId"] == signed["visitorId"]  # the same person on another device
    unsigned = await widget.session(identity={"userId": "customer-42", "signature": "00" * 32})
    assert unsigned["identified"] is False
    assert unsigned["visitorId"] != signed["visitorId"]
    # Rotation invalidates old signatures.
    await widget.tenant.gql.op("RotateWidgetIdentitySecret", {"keyId": widget.key_id})
    stale = await widget.session(identity={"userId": "customer-42", "signature": signature})
    assert stale["identified"] is False


async def test_require_identity_refuses_anonymous_visitors(factory: Factory) -> None:
    widget = await make_widget(factory)
    await widget.tenant.gql.op(
        "UpdateWidgetConfig", {"keyId": widget.key_id, "input": {"requireIdentity": True}}
    )
    result = await widget.page().op("StartWidgetSession")
    assert result.code == "FORBIDDEN"


async def test_revoking_the_key_or_origin_ends_visitor_tokens(factory: Factory) -> None:
    widget = await make_widget(factory)
    token = str((await widget.session())["visitorToken"])
    await widget.tenant.gql.op(
        "SetAllowedOrigins", {"id": widget.key_id, "allowedOrigins": ["https://new.example.com"]}
    )
    assert (await widget.visitor(token).op("VisitorWidget")).status == 401
    other = await make_widget(factory)
    token2 = str((await other.session())["visitorToken"])
    await other.tenant.gql.op("RevokeApiKey", {"id": other.key_id})
    assert (await other.visitor(token2).op("VisitorWidget")).status == 401


async def test_visitors_and_publishable_keys_cannot_reach_the_dashboard(factory: Factory) -> None:
    widget = await make_widget(factory)
    token = str((await widget.session())["visitorToken"])
    for client in (widget.visitor(token), widget.page()):
        for name, variables in (
            ("CurrentWorkspace", None),
            ("Leads", None),
            ("WidgetConfig", {"keyId": widget.key_id}),
            ("CreateSecretKey", {"input": {"name": "x"}}),
            ("UpdateWidgetConfig", {"keyId": widget.key_id, "input": {"title": "pwned"}}),
        ):
            # Refused before anything runs: these credentials may run only the widget's
            # persisted operations (the resolvers' own permission checks stand behind that).
            result = await client.op(name, variables)
            assert result.code == "PERSISTED_QUERY_NOT_IN_LIST", (name, result.body)


async def test_widget_config_is_validated_and_admin_only(factory: Factory) -> None:
    widget = await make_widget(factory)
    gql = widget.tenant.gql
    good = await gql.op(
        "UpdateWidgetConfig",
        {
            "keyId": widget.key_id,
            "input": {
                "title": "Help",
                "primaryColor": "#AA0000",
                "suggestedQuestions": ["Pricing?"],
                "leadFields": ["phone", "name"],
                "language": "fr",
                "position": "bottom-left",
            },
        },
    )
    config = good.data["updateWidgetConfig"]
    assert config["primaryColor"] == "#aa0000"
    assert config["leadFields"] == ["email", "name", "phone"]
    for bad in (
        {"primaryColor": "red"},
        {"position": "top"},
        {"language": "xx"},
        {"title": "t" * 61},
        {"suggestedQuestions": ["q"] * 6},
        {"leadFields": ["ssn"]},
        {"greeting": ""},
    ):
        result = await gql.op("UpdateWidgetConfig", {"keyId": widget.key_id, "input": bad})
        assert result.code == "VALIDATION", bad
    secret_key = (await gql.op("CreateSecretKey", {"input": {"name": "s"}})).data[
        "createSecretKey"
    ]["apiKey"]["id"]
    wrong_kind = await gql.op("WidgetConfig", {"keyId": secret_key})
    assert wrong_kind.code == "VALIDATION"
    _, member = await factory.member(widget.tenant, "MEMBER")
    assert (await member.op("WidgetConfig", {"keyId": widget.key_id})).data
    denied = await member.op(
        "UpdateWidgetConfig", {"keyId": widget.key_id, "input": {"title": "x"}}
    )
    assert denied.code == "FORBIDDEN"
    # Another workspace cannot read or change this key's widget.
    other = await factory.tenant()
    assert (await other.gql.op("WidgetConfig", {"keyId": widget.key_id})).code == "NOT_FOUND"
