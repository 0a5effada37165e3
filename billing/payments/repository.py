"""SQL for orders, payments and invoices (row-level security scopes them to the workspace)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits
from app.pagination import PageRequest
from billing.payments.models import Invoice, Order, Payment


async def insert_order(session: AsyncSession, order: Order) -> None:
    """Add a top-up order."""
    session.add(order)
    await session.flush()


async def order_by_razorpay_id(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_order_id: str, *, lock: bool = False
) -> Order | None:
    """A top-up order by its Razorpay id."""
    query = select(Order).where(
        Order.workspace_id == workspace_id, Order.razorpay_order_id == razorpay_order_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def update_order(
    session: AsyncSession, workspace_id: uuid.UUID, order_id: uuid.UUID, **values: Any
) -> None:
    """Write columns of one order."""
    await session.execute(
        update(Order)
        .where(Order.workspace_id == workspace_id, Order.id == order_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def insert_payment(session: AsyncSession, payment: Payment) -> None:
    """Add a payment."""
    session.add(payment)
    await session.flush()


async def insert_payment_if_new(session: AsyncSession, payment: Payment) -> bool:
    """Add a payment unless the workspace already has one with its Razorpay id; True when
    added."""
    values = {
        column.key: getattr(payment, column.key)
        for column in Payment.__table__.columns
        if getattr(payment, column.key) is not None
    }
    result = await session.execute(
        insert(Payment)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "razorpay_payment_id"])
        .returning(Payment.id)
    )
    return result.first() is not None


async def payment_by_razorpay_id(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_payment_id: str, *, lock: bool = False
) -> Payment | None:
    """A payment by its Razorpay id."""
    query = select(Payment).where(
        Payment.workspace_id == workspace_id, Payment.razorpay_payment_id == razorpay_payment_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def update_payment(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: uuid.UUID, **values: Any
) -> None:
    """Write columns of one payment (and its updated_at)."""
    await session.execute(
        update(Payment)
        .where(Payment.workspace_id == workspace_id, Payment.id == payment_id)
        .values(**values, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def get_payment(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: uuid.UUID
) -> Payment | None:
    """A payment by our id."""
    return await session.scalar(
        select(Payment).where(Payment.workspace_id == workspace_id, Payment.id == payment_id)
    )


async def list_payments(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageRequest
) -> list[Payment]:
    """Payments newest first, one page (+1 to detect more)."""
    query = (
        select(Payment)
        .where(Payment.workspace_id == workspace_id)
        .order_by(Payment.id.desc())
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Payment.id < page.after)
    return list(await session.scalars(query))


async def insert_invoice(session: AsyncSession, invoice: Invoice) -> None:
    """Add an invoice."""
    session.add(invoice)
    await session.flush()


async def invoice_by_razorpay_id(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_invoice_id: str
) -> Invoice | None:
    """An invoice by its Razorpay id, locked for an update."""
    return await session.scalar(
        select(Invoice)
        .where(
            Invoice.workspace_id == workspace_id,
            Invoice.razorpay_invoice_id == razorpay_invoice_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def update_invoice(
    session: AsyncSession, workspace_id: uuid.UUID, invoice_id: uuid.UUID, **values: Any
) -> None:
    """Write columns of one invoice (and its updated_at)."""
    await session.execute(
        update(Invoice)
        .where(Invoice.workspace_id == workspace_id, Invoice.id == invoice_id)
        .values(**values, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def get_invoice(
    session: AsyncSession, workspace_id: uuid.UUID, invoice_id: uuid.UUID
) -> Invoice | None:
    """An invoice by our id."""
    return await session.scalar(
        select(Invoice).where(Invoice.workspace_id == workspace_id, Invoice.id == invoice_id)
    )


async def list_invoices(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageRequest
) -> list[Invoice]:
    """Invoices newest first, one page (+1 to detect more)."""
    query = (
        select(Invoice)
        .where(Invoice.workspace_id == workspace_id)
        .order_by(Invoice.id.desc())
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Invoice.id < page.after)
    return list(await session.scalars(query))
