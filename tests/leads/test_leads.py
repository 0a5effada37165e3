"""Leads: captured from the widget with consent, de-duplicated by email, managed by the team."""

from __future__ import annotations

import csv
import io

from tests.support.ai import Stack
from tests.support.factories import Factory, make_widget
from tests.support.knowledge import add_document


async def _visitor(factory: Factory, tenant=None):  # type: ignore[no-untyped-def]
    widget = await make_widget(factory, tenant)
    token = str((await widget.session())["visitorToken"])
    return widget, widget.visitor(token)


async def test_capture_requires_consent_and_valid_fields(factory: Factory) -> None:
    _, visitor = await _visitor(factory)
    no_consent = await visitor.op("SubmitLead", {"input": {"email": "a@b.co", "consent": False}})
    assert no_consent.code == "VALIDATION"
    assert no_consent.errors[0]["extensions"]["field"] == "consent"
    for bad in (
        {"email": "nope"},
        {"email": "a@b.co", "phone": "call me"},
        {"email": "a@b.co", "name": "n" * 201},
        {"email": "a@b.co", "message": "m" * 5001},
    ):
        result = await visitor.op("SubmitLead", {"input": {**bad, "consent": True}})
        assert result.code == "VALIDATION", bad


async def test_leads_are_deduplicated_by_email_and_keep_team_status(factory: Factory) -> None:
    widget, visitor = await _visitor(factory)
    first = await visitor.op(
        "SubmitLead",
        {
            "input": {
                "email": "Buyer@Example.com",
                "consent": True,
                "name": "Bea",
                "message": "Pricing?",
            }
        },
    )
    assert first.data["submitLead"] is True
    gql = widget.tenant.gql
    [lead] = [e["node"] for e in (await gql.op("Leads")).data["leads"]["edges"]]
    await gql.op("UpdateLead", {"id": lead["id"], "status": "CONTACTED", "note": "called"})
    await visitor.op(
        "SubmitLead",
        {"input": {"email": "buyer@example.com", "consent": True, "company": "Bea Corp"}},
    )
    [again] = [e["node"] for e in (await gql.op("Leads")).data["leads"]["edges"]]
    assert again["id"] == lead["id"]
    assert (again["name"], again["company"], again["message"]) == ("Bea", "Bea Corp", "Pricing?")
    assert (again["status"], again["note"]) == ("CONTACTED", "called")


async def test_dashboard_filters_and_pages(factory: Factory) -> None:
    widget, visitor = await _visitor(factory)
    for i in range(5):
        await visitor.op(
            "SubmitLead",
            {"input": {"email": f"l{i}@example.com", "consent": True, "name": f"Lead {i}"}},
        )
    gql = widget.tenant.gql
    page = (await gql.op("Leads", {"first": 2})).data["leads"]
    assert [e["node"]["email"] for e in page["edges"]] == ["l4@example.com", "l3@example.com"]
    rest = (await gql.op("Leads", {"first": 10, "after": page["pageInfo"]["endCursor"]})).data
    assert len(rest["leads"]["edges"]) == 3
    lead_id = page["edges"][0]["node"]["id"]
    await gql.op("UpdateLead", {"id": lead_id, "status": "WON"})
    won = (await gql.op("Leads", {"status": "WON"})).data["leads"]["edges"]
    assert [e["node"]["id"] for e in won] == [lead_id]
    found = (await gql.op("Leads", {"search": "lead 2"})).data["leads"]["edges"]
    assert [e["node"]["email"] for e in found] == ["l2@example.com"]
    # LIKE wildcards in the search are literal.
    assert (await gql.op("Leads", {"search": "%"})).data["leads"]["edges"] == []


async def test_csv_export_neutralises_formulas(factory: Factory) -> None:
    widget, visitor = await _visitor(factory)
    await visitor.op(
        "SubmitLead",
        {
            "input": {
                "email": "x@example.com",
                "consent": True,
                "name": '=HYPERLINK("http://evil")',
                "message": "<script>alert(1)</script>",
            }
        },
    )
    csv_text = (await widget.tenant.gql.op("LeadsCsv")).data["leadsCsv"]
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["message"] == "<script>alert(1)</script>"  # stored as text, not rendered
    _, member = await factory.member(widget.tenant, "MEMBER")
    assert (await member.op("LeadsCsv")).code == "FORBIDDEN"


async def test_leads_are_isolated_between_workspaces(factory: Factory) -> None:
    a, visitor_a = await _visitor(factory)
    b, _ = await _visitor(factory)
    await visitor_a.op("SubmitLead", {"input": {"email": "only-a@example.com", "consent": True}})
    a_lead = (await a.tenant.gql.op("Leads")).data["leads"]["edges"][0]["node"]["id"]
    assert (await b.tenant.gql.op("Leads")).data["leads"]["edges"] == []
    assert (await b.tenant.gql.op("Node", {"id": a_lead})).data["node"] is None
    assert (await b.tenant.gql.op("UpdateLead", {"id": a_lead, "status": "LOST"})).code == (
        "NOT_FOUND"
    )
    assert "only-a@example.com" not in (await b.tenant.gql.op("LeadsCsv")).data["leadsCsv"]


async def test_only_visitors_submit_leads(factory: Factory) -> None:
    tenant = await factory.tenant()
    result = await tenant.gql.op("SubmitLead", {"input": {"email": "a@b.co", "consent": True}})
    assert result.code == "FORBIDDEN"


async def test_a_lead_links_only_the_visitors_own_conversation(extractive: Stack) -> None:
    # Found by tests/hostile/test_cross_tenant_probe.py: the conversation id was stored as
    # given, so a visitor could attach another workspace's (or visitor's) conversation.
    widget, visitor = await _visitor(extractive.factory)
    other_widget, other_visitor = await _visitor(extractive.factory)
    await add_document(widget.tenant, "Returns are accepted within 30 days.")
    await add_document(other_widget.tenant, "Returns are accepted within 30 days.")
    await extractive.drain()
    own = (await visitor.op("WidgetAsk", {"input": {"question": "Returns?"}})).data["ask"]
    foreign = (await other_visitor.op("WidgetAsk", {"input": {"question": "Returns?"}})).data
    await extractive.drain()  # answer the questions: no job may outlive the test
    same_workspace = widget.visitor(str((await widget.session())["visitorToken"]))
    for client, conversation in (
        (visitor, foreign["ask"]["conversation"]["id"]),
        (same_workspace, own["conversation"]["id"]),
    ):
        refused = await client.op(
            "SubmitLead",
            {"input": {"email": "x@example.com", "consent": True, "conversationId": conversation}},
        )
        assert refused.code == "NOT_FOUND"
    assert (await widget.tenant.gql.op("Leads")).data["leads"]["edges"] == []
    linked = await visitor.op(
        "SubmitLead",
        {
            "input": {
                "email": "x@example.com",
                "consent": True,
                "conversationId": own["conversation"]["id"],
            }
        },
    )
    assert linked.data["submitLead"] is True
    [lead] = (await widget.tenant.gql.op("Leads")).data["leads"]["edges"]
    assert lead["node"]["conversationId"] == own["conversation"]["id"]
