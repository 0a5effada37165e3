"""Asking through GraphQL with real workers: extractive answers, citations, "don't know",
FAQ entries, the answer cache, conversations, feedback, usage and who may see what."""

from sqlalchemy import text

from app.assistant import service as assistant
from app.assistant.answer import DONT_KNOW
from app.db.tenant import tenant_transaction
from app.errors import Forbidden, NotFound
from app.jobs import JobBuffer
from app.pagination import PageRequest
from tenancy.principal import Principal, PrincipalKind
from tests.assistant.test_generation import subscribe
from tests.support.ai import Stack, serve
from tests.support.factories import Tenant
from tests.support.knowledge import add_document, row_id
from tests.support.openai_server import FakeOpenAI

POLICY = """# Help centre

## Refunds

You can return any item within 30 days. Refunds reach your card within five business days.

## Opening hours

The shop opens at nine and closes at six, Monday to Saturday.
"""


async def ask(stack: Stack, tenant: Tenant, question: str, conversation: str | None = None):
    variables = {"input": {"question": question, "conversationId": conversation}}
    return (await tenant.gql.op("Ask", variables)).data["ask"]


async def answered(stack: Stack, tenant: Tenant, question: str, conversation: str | None = None):
    asked = await ask(stack, tenant, question, conversation)
    await stack.drain()
    message = (await tenant.gql.op("Message", {"id": asked["answer"]["id"]})).data["message"]
    return asked, message


async def test_extractive_answer_cites_real_chunks(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, POLICY)
    await extractive.drain()
    asked, answer = await answered(extractive, tenant, "How long do refunds take to reach my card?")
    assert asked["answer"]["status"] == "PENDING"
    assert asked["conversation"]["title"] == "How long do refunds take to reach my card?"
    assert (answer["status"], answer["mode"], answer["cached"]) == ("COMPLETE", "EXTRACTIVE", False)
    assert "Refunds reach your card within five business days. [1]" in answer["content"]
    citation = answer["citations"][0]
    assert (citation["index"], citation["documentId"], citation["title"]) == (
        1,
        doc["id"],
        "Help centre",
    )
    assert citation["headingPath"] == ["Help centre", "Refunds"]
    async with tenant_transaction(extractive.state.sessions, row_id(tenant.id)) as session:
        stored = await session.scalar(
            text("SELECT content FROM chunks WHERE id = :c"), {"c": citation["chunkId"]}
        )
    assert stored is not None and citation["snippet"].rstrip("…") in " ".join(stored.split())


async def test_an_extractive_answer_streams_whole_with_its_end(extractive: Stack) -> None:
    # The text arrives as one delta with the end, and the DONE message (built from what the
    # worker sent, not read back) is exactly the stored one.
    tenant = await extractive.factory.tenant()
    doc = await add_document(tenant, POLICY)
    await extractive.drain()
    async with serve(extractive) as address, extractive.running_workers():
        asked = await ask(extractive, tenant, "How long do refunds take to reach my card?")
        events = await subscribe(address, tenant, asked["answer"]["id"])
    kinds = [e["data"]["answer"]["kind"] for e in events]
    assert kinds == ["DELTA", "DONE"]
    final = events[-1]["data"]["answer"]["message"]
    assert (final["status"], final["mode"]) == ("COMPLETE", "EXTRACTIVE")
    assert events[0]["data"]["answer"]["text"] == final["content"]
    assert [c["documentId"] for c in final["citations"]] == [doc["id"]]
    stored = (await tenant.gql.op("Message", {"id": asked["answer"]["id"]})).data["message"]
    assert stored == final


async def test_nothing_relevant_means_i_do_not_know(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await extractive.drain()
    _, answer = await answered(extractive, tenant, "Who won the football world cup in 1954?")
    assert (answer["mode"], answer["content"], answer["citations"]) == ("NO_ANSWER", DONT_KNOW, [])


async def test_a_matching_faq_entry_answers_directly(
    extractive: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    faq = (
        await tenant.gql.op(
            "CreateFaqEntry",
            {"input": {"question": "How do I reset my password?", "answer": "Use the link."}},
        )
    ).data["createFaqEntry"]
    assert faq["status"] == "QUEUED"
    await extractive.drain()
    _, answer = await answered(extractive, tenant, "How can I reset my password??")
    assert (answer["mode"], answer["content"]) == ("FAQ", "Use the link.")
    assert answer["citations"][0]["documentId"] == faq["id"]
    listed = (await tenant.gql.op("FaqEntries")).data["faqEntries"]["edges"]
    assert [(e["node"]["question"], e["node"]["status"]) for e in listed] == [
        ("How do I reset my password?", "READY")
    ]
    # FAQ entries are not documents.
    assert (await tenant.gql.op("Documents")).data["documents"]["edges"][0]["node"]["title"] == (
        "Help centre"
    )
    updated = await tenant.gql.op(
        "UpdateFaqEntry", {"input": {"id": faq["id"], "answer": "Click 'Forgot password'."}}
    )
    assert updated.data["updateFaqEntry"]["answer"] == "Click 'Forgot password'."
    await extractive.drain()
    _, again = await answered(extractive, tenant, "How can I reset my password??")
    assert (again["content"], again["cached"]) == ("Click 'Forgot password'.", False)
    assert (await tenant.gql.op("DeleteFaqEntry", {"id": faq["id"]})).data
    _, gone = await answered(extractive, tenant, "How can I reset my password?")
    assert gone["mode"] == "NO_ANSWER"
    bad = await tenant.gql.op("CreateFaqEntry", {"input": {"question": "", "answer": "x"}})
    assert bad.code == "VALIDATION"


async def test_the_cache_answers_first_questions_until_knowledge_changes(
    extractive: Stack, fake_openai: FakeOpenAI
) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await extractive.drain()
    _, first = await answered(extractive, tenant, "When does the shop open?")
    assert (first["mode"], first["cached"]) == ("EXTRACTIVE", False)
    calls = len(fake_openai.calls("embeddings"))
    hit = await ask(extractive, tenant, "  when does the SHOP open  ")
    assert (hit["answer"]["status"], hit["answer"]["cached"]) == ("COMPLETE", True)
    assert hit["answer"]["content"] == first["content"]
    assert hit["answer"]["citations"] == first["citations"]
    assert len(fake_openai.calls("embeddings")) == calls  # no model call at all
    # A follow-up in a conversation depends on what came before: never from the cache.
    follow_up = await ask(extractive, tenant, "When does the shop open?", hit["conversation"]["id"])
    assert follow_up["answer"]["status"] == "PENDING"
    await extractive.drain()
    # New knowledge makes every cached answer of the workspace unreachable.
    await add_document(tenant, "On Sundays the shop opens at noon.", "TEXT")
    await extractive.drain()
    after = await ask(extractive, tenant, "When does the shop open?")
    assert after["answer"]["status"] == "PENDING"
    await extractive.drain()


async def test_conversations_messages_feedback_and_usage(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY)
    await extractive.drain()
    asked, answer = await answered(extractive, tenant, "Can I return an item?")
    conversation = asked["conversation"]["id"]
    await answered(extractive, tenant, "And when does the shop close?", conversation)
    await ask(extractive, tenant, "Another topic entirely: opening hours?")
    await extractive.drain()

    page = (await tenant.gql.op("Conversation", {"id": conversation, "first": 3})).data
    messages = page["conversation"]["messages"]
    assert [(m["node"]["role"], m["node"]["status"]) for m in messages["edges"]] == [
        ("USER", "COMPLETE"),
        ("ASSISTANT", "COMPLETE"),
        ("USER", "COMPLETE"),
    ]
    assert messages["pageInfo"]["hasNextPage"] is True
    rest = (
        await tenant.gql.op(
            "Conversation",
            {"id": conversation, "first": 3, "after": messages["pageInfo"]["endCursor"]},
        )
    ).data["conversation"]["messages"]["edges"]
    assert [m["node"]["role"] for m in rest] == ["ASSISTANT"]
    assert page["conversation"]["messageCount"] == 4
    listed = (await tenant.gql.op("Conversations")).data["conversations"]["edges"]
    assert len(listed) == 2 and listed[1]["node"]["id"] == conversation  # newest first

    rated = await tenant.gql.op(
        "RateAnswer", {"input": {"messageId": answer["id"], "helpful": True}}
    )
    assert rated.data["rateAnswer"]["feedback"] == "HELPFUL"
    rated = await tenant.gql.op(
        "RateAnswer",
        {"input": {"messageId": answer["id"], "helpful": False, "comment": "Too vague."}},
    )
    assert rated.data["rateAnswer"]["feedback"] == "NOT_HELPFUL"
    question_id = messages["edges"][0]["node"]["id"]
    wrong = await tenant.gql.op(
        "RateAnswer", {"input": {"messageId": question_id, "helpful": True}}
    )
    assert wrong.code == "VALIDATION"

    usage = (await tenant.gql.op("Usage")).data["usage"]
    assert (usage["conversations"], usage["messages"]) == (2, 3)


async def test_bad_questions_are_refused(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    empty = await tenant.gql.op("Ask", {"input": {"question": "  "}})
    assert (empty.code, empty.errors[0]["extensions"]["field"]) == ("VALIDATION", "question")
    long = await tenant.gql.op("Ask", {"input": {"question": "why " * 600}})
    assert long.code == "VALIDATION"
    assert "at most 2000 characters" in long.errors[0]["message"]
    wrong_id = await tenant.gql.op(
        "Ask", {"input": {"question": "hi", "conversationId": tenant.id}}
    )
    assert wrong_id.code == "VALIDATION"
    usage = (await tenant.gql.op("Usage")).data["usage"]
    assert (usage["conversations"], usage["messages"]) == (0, 0)


async def test_workspace_b_gets_nothing_of_workspace_a(extractive: Stack) -> None:
    a, b = await extractive.factory.tenant("A"), await extractive.factory.tenant("B")
    await add_document(a, POLICY)
    await extractive.drain()
    asked_a, answer_a = await answered(extractive, a, "How long do refunds take?")
    assert answer_a["mode"] == "EXTRACTIVE"
    # The same question in B, which has no documents: B must not be answered from A.
    _, answer_b = await answered(extractive, b, "How long do refunds take?")
    assert (answer_b["mode"], answer_b["citations"]) == ("NO_ANSWER", [])
    assert (await b.gql.op("Message", {"id": answer_a["id"]})).data["message"] is None
    conversation_a = asked_a["conversation"]["id"]
    assert (await b.gql.op("Conversation", {"id": conversation_a})).data["conversation"] is None
    continued = await b.gql.op(
        "Ask", {"input": {"question": "and then?", "conversationId": conversation_a}}
    )
    assert continued.code == "NOT_FOUND"
    rated = await b.gql.op("RateAnswer", {"input": {"messageId": answer_a["id"], "helpful": True}})
    assert rated.code == "NOT_FOUND"
    listed = (await b.gql.op("Conversations")).data["conversations"]["edges"]
    assert conversation_a not in [c["node"]["id"] for c in listed]


async def test_visitors_see_only_their_own_conversations(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    ws = row_id(tenant.id)
    settings, state = extractive.settings, extractive.state

    def visitor(vid: str | None, kind: PrincipalKind = PrincipalKind.VISITOR) -> Principal:
        return Principal(kind=kind, workspace_id=ws, visitor_id=vid)

    jobs = JobBuffer()
    async with tenant_transaction(state.sessions, ws) as session:
        mine = await assistant.ask(
            session, visitor("v-1"), settings, state.redis, jobs, question="Hello there?"
        )
        theirs = await assistant.ask(
            session, visitor("v-2"), settings, state.redis, jobs, question="Hi?"
        )
        await jobs.stage(session)
    async with state.sessions() as session:
        await jobs.deliver(state.queue, session, settings.outbox.enqueue_timeout_s)
    assert mine.conversation.visitor_id == "v-1"
    page = PageRequest(limit=10, after=None)
    async with tenant_transaction(state.sessions, ws) as session:
        own = await assistant.list_conversations(session, visitor("v-1"), page)
        assert [c.id for c in own.items] == [mine.conversation.id]
        assert (
            await assistant.get_conversation(session, visitor("v-1"), theirs.conversation.id)
            is None
        )
        assert await assistant.get_message(session, visitor("v-1"), theirs.answer.id) is None
    async with tenant_transaction(state.sessions, ws) as session:
        try:
            await assistant.ask(
                session,
                visitor("v-1"),
                settings,
                state.redis,
                JobBuffer(),
                question="Let me in",
                conversation_id=theirs.conversation.id,
            )
            raise AssertionError("a visitor continued someone else's conversation")
        except NotFound:
            pass
    async with tenant_transaction(state.sessions, ws) as session:
        try:
            await assistant.ask(
                session,
                visitor(None, PrincipalKind.PUBLISHABLE_KEY),
                settings,
                state.redis,
                JobBuffer(),
                question="Who am I?",
            )
            raise AssertionError("a widget caller without a visitor id could ask")
        except Forbidden:
            pass
    # The workspace's own team sees every visitor's conversation.
    listed = (await tenant.gql.op("Conversations")).data["conversations"]["edges"]
    assert {c["node"]["visitorId"] for c in listed} == {"v-1", "v-2"}
    await extractive.drain()


async def test_faq_passages_are_cited_as_faq_entries(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    faq = (
        await tenant.gql.op(
            "CreateFaqEntry",
            {"input": {"question": "What are your opening hours?", "answer": "Nine to six."}},
        )
    ).data["createFaqEntry"]
    await extractive.drain()
    # Related but not the same question: no direct FAQ answer, yet the entry is a passage.
    _, answer = await answered(
        extractive, tenant, "Opening hours during public holidays and weekends?"
    )
    assert answer["mode"] == "EXTRACTIVE"
    assert "Nine to six. [1]" in answer["content"]
    assert answer["citations"][0]["documentId"] == faq["id"]
    node = (await tenant.gql.op("Node", {"id": faq["id"]})).data["node"]
    assert (node["__typename"], node["id"]) == ("FaqEntry", faq["id"])


async def test_citations_link_to_the_documents_source(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    await add_document(tenant, POLICY, sourceUrl="https://shop.example.com/help/returns")
    bad = await tenant.gql.op(
        "AddDocument",
        {"input": {"content": POLICY, "format": "MARKDOWN", "sourceUrl": "javascript:alert(1)"}},
    )
    assert bad.code == "VALIDATION"
    assert bad.errors[0]["extensions"]["field"] == "sourceUrl"
    await extractive.drain()
    _, answer = await answered(extractive, tenant, "How long do refunds take to reach my card?")
    assert answer["citations"][0]["url"] == "https://shop.example.com/help/returns"
